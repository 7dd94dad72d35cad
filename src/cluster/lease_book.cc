// lease_book.cc -- when a node asks Redis for units and what it gives back.
#include "relay/cluster/lease_book.h"

#include <algorithm>

#include "relay/base/assert.h"

namespace relay::cluster {
namespace {

using State = policy::LeasedBudget::State;

// How often `want` follows the rate of takings.
constexpr std::int64_t rate_period_ms = 1000;

}  // namespace

LeaseBook::LeaseBook(std::shared_ptr<policy::LeasedBudget> budget, const LeaseBookOptions& options)
    : budget_(std::move(budget)), options_(options), records_(budget_->capacity()) {
    RELAY_ASSERT(options_.lease_ms > 0 && options_.units_max >= 1);
}

std::uint32_t LeaseBook::want_cap() const {
    return std::max<std::uint32_t>(
        1, std::min({options_.units_max, budget_->capacity(), budget_->messages()}));
}

void LeaseBook::to_return(std::uint32_t entry, std::int64_t used_at_ms) {
    Record& record = records_[entry];
    returns_.push_back(ReturnedUnit{record.slot, std::move(record.lease_id), used_at_ms});
    record.lease_id.clear();
}

// Empties what is due: expired unused units, used units past the hold (all used ones when the
// budget is retired). Counts what stays.
LeaseBook::Scan LeaseBook::reclaim_due(std::int64_t now_ms, bool endgame) {
    Scan scan;
    std::int64_t used_hold_ms =
        endgame ? std::min(options_.used_hold_ms, options_.endgame_hold_ms) : options_.used_hold_ms;
    bool retired = budget_->retired();
    std::uint32_t end = budget_->filled_end();
    scan.empty = budget_->capacity() - end;
    for (std::uint32_t entry = 0; entry < end; ++entry) {
        // A failed reclaim means a worker moved the entry: read it again.
        for (;;) {
            policy::LeasedBudget::Entry seen = budget_->entry_state(entry);
            if (seen.state == State::empty) {
                ++scan.empty;
                break;
            }
            if (seen.state == State::available) {
                bool stale =
                    endgame && now_ms - records_[entry].filled_ms >= options_.endgame_hold_ms;
                if (seen.time_ms > now_ms && !retired && !stale) {
                    ++scan.available;
                    break;
                }
                if (budget_->reclaim(entry, seen.word)) {
                    to_return(entry, -1);
                    ++scan.empty;
                    break;
                }
                continue;
            }
            if (now_ms - seen.time_ms < used_hold_ms && !retired) {
                ++scan.used;
                break;
            }
            if (budget_->reclaim(entry, seen.word)) {
                to_return(entry, seen.time_ms);
                ++takings_in_period_;
                ++scan.empty;
                break;
            }
        }
    }
    return scan;
}

// The entries run short: used units go back before their hold ends (a give-back of theirs
// will find them gone, and their unit stays spent) until `wanted` entries are empty.
LeaseBook::Scan LeaseBook::reclaim_used_early(Scan scan, std::uint32_t wanted) {
    std::uint32_t end = budget_->filled_end();
    for (std::uint32_t entry = 0; entry < end && scan.empty < wanted; ++entry) {
        policy::LeasedBudget::Entry seen = budget_->entry_state(entry);
        if (seen.state == State::used && budget_->reclaim(entry, seen.word)) {
            to_return(entry, seen.time_ms);
            ++takings_in_period_;
            ++scan.empty;
            --scan.used;
        }
    }
    return scan;
}

// Gives back available units beyond `keep` (unused).
void LeaseBook::give_back_surplus(std::uint32_t keep, std::int64_t now_ms) {
    std::uint32_t kept = 0;
    std::uint32_t end = budget_->filled_end();
    for (std::uint32_t entry = 0; entry < end; ++entry) {
        policy::LeasedBudget::Entry seen = budget_->entry_state(entry);
        if (seen.state != State::available || seen.time_ms <= now_ms) {
            continue;
        }
        if (kept < keep) {
            ++kept;
            continue;
        }
        if (budget_->reclaim(entry, seen.word)) {
            to_return(entry, -1);
        }
    }
}

std::optional<LeaseRequest> LeaseBook::next_request(std::int64_t now_ms, bool redis_up) {
    if (in_flight_) {
        return std::nullopt;
    }
    bool starved = budget_->clear_starved();
    Scan scan = reclaim_due(now_ms, budget_->full_until_ms() > now_ms);
    if (scan.empty < want_ && scan.used > 0) {
        scan = reclaim_used_early(scan, want_);
    }
    if (now_ms - period_start_ms_ >= rate_period_ms) {
        // A quarter second of takings at the last period's rate, and one more.
        std::uint64_t per_quarter = (std::uint64_t{takings_in_period_} * 250 + 999) /
                                    static_cast<std::uint64_t>(now_ms - period_start_ms_);
        want_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(per_quarter + 1, want_cap()));
        takings_in_period_ = 0;
        period_start_ms_ = now_ms;
    }
    if (starved) {
        want_ = std::min(want_cap(), want_ * 2);
        last_starved_ms_ = now_ms;
    }
    // Taking: a worker found nothing lately (it waits for what is asked now) or took a unit.
    bool taking = now_ms - last_starved_ms_ < options_.used_hold_ms || scan.used > 0;
    if (budget_->retired() || !taking) {
        give_back_surplus(0, now_ms);
        scan.empty += scan.available;
        scan.available = 0;
    } else if (scan.available > 2 * want_) {
        give_back_surplus(want_, now_ms);
        scan.empty += scan.available - want_;
        scan.available = want_;
    }
    if (!redis_up) {
        return std::nullopt;  // reclaimed units wait for the connection
    }
    bool full = budget_->full_until_ms() > now_ms;
    bool need = !budget_->retired() && taking && scan.available < (want_ + 1) / 2 &&
                !(full && now_ms - last_ask_ms_ < options_.full_recheck_ms);
    std::uint32_t want = need ? std::min(want_ - std::min(want_, scan.available), scan.empty) : 0;
    if (need && want == 0 && scan.empty > 0) {
        want = 1;
    }
    if (want == 0 && returns_.empty()) {
        return std::nullopt;  // a worker refused on a known-full limit sets the flag again
    }
    LeaseRequest request{budget_->username(), budget_->messages(), budget_->window_s(), want,
                         returns_};
    returns_in_flight_ = returns_.size();
    in_flight_ = true;
    if (want > 0) {
        last_ask_ms_ = now_ms;
    }
    return request;
}

void LeaseBook::on_grant(const LeaseGrant& grant, std::int64_t sent_ms, std::int64_t now_ms) {
    RELAY_ASSERT(in_flight_);
    in_flight_ = false;
    returns_.erase(returns_.begin(),
                   returns_.begin() + static_cast<std::ptrdiff_t>(returns_in_flight_));
    returns_in_flight_ = 0;
    // The margin covers the two clocks' rates drifting apart over one lease (far less than 1%).
    std::int64_t deadline_ms =
        sent_ms + options_.lease_ms - std::max<std::int64_t>(10, options_.lease_ms / 50);
    bool usable = deadline_ms > now_ms && !budget_->retired();
    std::uint32_t entry = 0;
    for (std::uint32_t slot : grant.slots) {
        while (entry < budget_->capacity() && budget_->entry_state(entry).state != State::empty) {
            ++entry;
        }
        if (!usable || entry == budget_->capacity()) {
            returns_.push_back(ReturnedUnit{slot, grant.lease_id, -1});
            continue;
        }
        records_[entry] = Record{slot, grant.lease_id, now_ms};
        budget_->fill(entry, deadline_ms);
    }
    budget_->set_full_until(
        grant.free_after == 0 ? now_ms + std::max<std::int64_t>(1, grant.retry_after_ms) : 0);
    // Units leased and not yet returned, less this node's own: others may give them back.
    budget_->set_contended(grant.free_after == 0 && grant.leased > held());
}

// Units of this node's leases that Redis still counts as leased: held or waiting to go back.
std::uint32_t LeaseBook::held() const {
    std::uint32_t count = static_cast<std::uint32_t>(returns_.size());
    std::uint32_t end = budget_->filled_end();
    for (std::uint32_t entry = 0; entry < end; ++entry) {
        count += budget_->entry_state(entry).state != State::empty ? 1 : 0;
    }
    return count;
}

void LeaseBook::on_failure() {
    RELAY_ASSERT(in_flight_);
    in_flight_ = false;
    returns_in_flight_ = 0;
}

bool LeaseBook::idle() const {
    return !in_flight_ && held() == 0;
}

}  // namespace relay::cluster
