// soft_bounce_runs.cc -- soft bounces in a row per recipient (see soft_bounce_runs.h).
//
// Thread: one owner. Bounded: keys_max runs, deliveries_per_key_max deliveries and at most
// to_hard bounced ids per run.
#include "relay/bounce/soft_bounce_runs.h"

#include <algorithm>

#include "relay/base/assert.h"

namespace relay::bounce {

SoftBounceRuns::SoftBounceRuns(std::uint32_t to_hard, std::size_t keys_max)
    : to_hard_(to_hard), keys_max_(keys_max) {
    RELAY_ASSERT(to_hard >= 1);
    RELAY_ASSERT(keys_max >= 1);
}

void SoftBounceRuns::touch(const std::string& key, Run& run) {
    if (run.touched != 0) {
        by_touch_.erase(run.touched);
    }
    run.touched = ++clock_;
    by_touch_.emplace(run.touched, key);
}

void SoftBounceRuns::evict_if_full() {
    while (runs_.size() >= keys_max_ && !by_touch_.empty()) {
        auto oldest = by_touch_.begin();
        runs_.erase(oldest->second);
        by_touch_.erase(oldest);
    }
}

std::uint32_t SoftBounceRuns::soft_bounce(const std::string& key, spool::QueueId queue_id) {
    auto found = runs_.find(key);
    if (found == runs_.end()) {
        evict_if_full();
        found = runs_.emplace(key, Run{}).first;
    }
    Run& run = found->second;
    if (run.bounced.contains(queue_id)) {
        return run.length;
    }
    std::erase(run.deliveries, queue_id);  // it was delivered to the server, then bounced
    // A message sent between the run's last bounce and this one went through: the run is over.
    bool broken =
        std::any_of(run.deliveries.begin(), run.deliveries.end(), [&](spool::QueueId delivered) {
            return delivered > run.last_bounced && delivered < queue_id;
        });
    if (broken) {
        run.length = 0;
        run.bounced.clear();
    }
    ++run.length;
    run.bounced.insert(queue_id);
    run.last_bounced = std::max(run.last_bounced, queue_id);
    std::erase_if(run.deliveries,
                  [&](spool::QueueId delivered) { return delivered <= run.last_bounced; });
    std::uint32_t length = run.length;
    if (length >= to_hard_) {
        forget(key);
        return length;
    }
    touch(key, run);
    return length;
}

void SoftBounceRuns::delivered(const std::string& key, spool::QueueId queue_id) {
    auto found = runs_.find(key);
    if (found == runs_.end()) {
        return;
    }
    Run& run = found->second;
    if (queue_id <= run.last_bounced || run.bounced.contains(queue_id)) {
        return;
    }
    auto at = std::lower_bound(run.deliveries.begin(), run.deliveries.end(), queue_id);
    if (at != run.deliveries.end() && *at == queue_id) {
        return;
    }
    run.deliveries.insert(at, queue_id);
    if (run.deliveries.size() > deliveries_per_key_max) {
        run.deliveries.pop_back();
    }
}

void SoftBounceRuns::forget(const std::string& key) {
    auto found = runs_.find(key);
    if (found == runs_.end()) {
        return;
    }
    by_touch_.erase(found->second.touched);
    runs_.erase(found);
}

std::uint32_t SoftBounceRuns::run_of(const std::string& key) const {
    auto found = runs_.find(key);
    return found == runs_.end() ? 0 : found->second.length;
}

}  // namespace relay::bounce
