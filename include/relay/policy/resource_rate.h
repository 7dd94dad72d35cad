// resource_rate.h -- one resource's message budget: at most `messages` units taken in any
// window of `window_s` seconds (a sliding window, not fixed intervals), exactly that many when
// demand exceeds it.
//
// SYNOPSIS
//   ResourceRate rate(100, 300);
//   RateDecision decision = rate.acquire(now_ms);   // at MAIL
//   rate.give_back(decision.taken);                 // the transaction queued nothing
//
// DESCRIPTION
//   The budget is an array of `messages` slots, each an atomic "free at" time in milliseconds.
//   Taking a unit is a compare-and-swap of a slot whose free-at is due (<= now) to now +
//   window; a slot taken at t cannot be taken again before t + window, so no window of that
//   length holds more takings than there are slots, and when every slot is due, `messages`
//   takings in a row all succeed. Giving a unit back restores the slot's previous free-at (a
//   time already due) with one more compare-and-swap, so the unit is usable at once by anyone;
//   a give-back after the slot's own window ended finds it taken again, or due anyway, and does
//   nothing. "Try again in" is the smallest free-at minus now, read while scanning a full array.
//
//   Plain GCRA with a burst of N would let N + 1 through within one window (N at t = 0, one
//   more at t = T), and a fixed-window counter 2N across a boundary; the slot array is exact at
//   the cost of 8 bytes per unit of the limit and a scan of up to `messages` words when full.
//
// CONCURRENCY
//   Lock-free, no mutex: every decision is loads and at most a few compare-and-swaps on the
//   slots. Each thread starts its scan at its own rotating position, so threads taking units
//   of one resource at once mostly touch different slots. A refusal writes nothing. A scan
//   that meets a slot just given back behind it may refuse while that unit is free: the client
//   is told to retry in at most a second, and the limit is never exceeded.
//
//   A resource whose limit changes gets a new ResourceRate (rate_limiter.h); the old one is
//   retired: `retire` marks it, and a taking that finds the mark after its own CAS gives the
//   unit back and reports `retired`, so the caller asks the new one. The mark and the slots
//   are sequentially consistent, so either the taking sees the mark or the copy made after
//   marking sees the taken slot: no unit escapes both.
//
// TIME
//   `now_ms` comes from the caller: any millisecond clock that does not go backwards, the same
//   for every call (the engine's monotonic clock in relayd).
//
// Thread: any; never blocks; allocates only at construction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace relay::policy {

// A unit held by a transaction: which slot, and what to put back there.
struct RateUnitSlot {
    std::uint32_t slot = 0;
    std::int64_t previous_free_at_ms = 0;
    std::int64_t free_at_ms = 0;
};

struct RateDecision {
    enum class Outcome { taken, full, retired };
    Outcome outcome = Outcome::full;
    RateUnitSlot taken;               // when `taken`
    std::int64_t retry_after_ms = 0;  // when `full`: until the earliest slot is due (>= 1)
};

class ResourceRate {
  public:
    // `messages` >= 1, `window_s` >= 1 (the store bounds both).
    ResourceRate(std::uint32_t messages, std::uint32_t window_s);
    // A successor with a new limit that counts the units `previous` holds now: each taken at t
    // (its free-at minus the old window) is busy here until t + the new window; the most recent
    // ones are kept when the new limit is smaller. Retires `previous` first.
    ResourceRate(std::uint32_t messages, std::uint32_t window_s, ResourceRate& previous,
                 std::int64_t now_ms);
    ResourceRate(const ResourceRate&) = delete;
    ResourceRate& operator=(const ResourceRate&) = delete;

    [[nodiscard]] RateDecision acquire(std::int64_t now_ms);
    void give_back(const RateUnitSlot& unit);

    std::uint32_t messages() const { return messages_; }
    std::uint32_t window_s() const { return window_s_; }
    // Units busy at `now_ms` (for tests and reports; a scan, not a snapshot under contention).
    std::uint32_t busy(std::int64_t now_ms) const;

  private:
    void retire() { retired_.store(true); }
    // Taking times of the busy slots, most recent first.
    std::vector<std::int64_t> busy_taken_times(std::int64_t now_ms) const;

    std::uint32_t messages_;
    std::uint32_t window_s_;
    std::int64_t window_ms_;
    std::unique_ptr<std::atomic<std::int64_t>[]> slots_;
    std::atomic<bool> retired_{false};
};

}  // namespace relay::policy
