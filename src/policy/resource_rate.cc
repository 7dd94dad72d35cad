// resource_rate.cc -- the slot array of one resource's message budget.
#include "relay/policy/resource_rate.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "relay/base/assert.h"
#include "scan_start.h"

namespace relay::policy {
ResourceRate::ResourceRate(std::uint32_t messages, std::uint32_t window_s)
    : messages_(messages),
      window_s_(window_s),
      window_ms_(std::int64_t{window_s} * 1000),
      slots_(std::make_unique<std::atomic<std::int64_t>[]>(messages)) {
    RELAY_ASSERT(messages >= 1 && window_s >= 1);
    for (std::uint32_t index = 0; index < messages_; ++index) {
        slots_[index].store(std::numeric_limits<std::int64_t>::min() / 2,
                            std::memory_order_relaxed);
    }
}

ResourceRate::ResourceRate(std::uint32_t messages, std::uint32_t window_s, ResourceRate& previous,
                           std::int64_t now_ms)
    : ResourceRate(messages, window_s) {
    previous.retire();
    std::vector<std::int64_t> taken = previous.busy_taken_times(now_ms);
    std::size_t kept = std::min<std::size_t>(taken.size(), messages_);
    for (std::size_t index = 0; index < kept; ++index) {
        slots_[index].store(taken[index] + window_ms_, std::memory_order_relaxed);
    }
}

RateDecision ResourceRate::acquire(std::int64_t now_ms) {
    std::uint32_t start = internal::next_scan_start() % messages_;
    std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
    for (std::uint32_t step = 0; step < messages_; ++step) {
        std::uint32_t index = start + step < messages_ ? start + step : start + step - messages_;
        std::atomic<std::int64_t>& slot = slots_[index];
        std::int64_t free_at = slot.load();
        // A failed CAS reloads the slot: another thread took it (now busy: go on) or gave it
        // back (still due: try again).
        while (free_at <= now_ms) {
            if (slot.compare_exchange_weak(free_at, now_ms + window_ms_)) {
                RateUnitSlot unit{index, free_at, now_ms + window_ms_};
                if (retired_.load()) {
                    give_back(unit);
                    return RateDecision{RateDecision::Outcome::retired, {}, 0};
                }
                return RateDecision{RateDecision::Outcome::taken, unit, 0};
            }
        }
        earliest = std::min(earliest, free_at);
    }
    if (retired_.load()) {
        return RateDecision{RateDecision::Outcome::retired, {}, 0};
    }
    return RateDecision{
        RateDecision::Outcome::full, {}, std::max<std::int64_t>(1, earliest - now_ms)};
}

void ResourceRate::give_back(const RateUnitSlot& unit) {
    RELAY_ASSERT(unit.slot < messages_);
    std::int64_t expected = unit.free_at_ms;
    // Fails only when the slot's window ended and it was taken again: nothing to give back.
    (void)slots_[unit.slot].compare_exchange_strong(expected, unit.previous_free_at_ms);
}

std::uint32_t ResourceRate::busy(std::int64_t now_ms) const {
    std::uint32_t count = 0;
    for (std::uint32_t index = 0; index < messages_; ++index) {
        count += slots_[index].load() > now_ms ? 1 : 0;
    }
    return count;
}

std::vector<std::int64_t> ResourceRate::busy_taken_times(std::int64_t now_ms) const {
    std::vector<std::int64_t> taken;
    for (std::uint32_t index = 0; index < messages_; ++index) {
        std::int64_t free_at = slots_[index].load();
        if (free_at > now_ms) {
            taken.push_back(free_at - window_ms_);
        }
    }
    std::ranges::sort(taken, std::greater<>());
    return taken;
}

}  // namespace relay::policy
