// leased_budget.h -- one resource's share of a fleet-wide message rate: the units this node has
// leased from Redis, taken by the workers at MAIL without a network round trip.
//
// SYNOPSIS
//   LeasedBudget budget("acme/main", 100, 300, 256);
//   std::optional<LeasedUnit> unit = budget.take(now_ms);   // a worker, at MAIL
//   budget.give_back(*unit);                                // the transaction queued nothing
//   budget.fill(entry, deadline_ms);                        // the cluster thread, after a lease
//   budget.reclaim(entry, seen);                            // the cluster thread, to return it
//
// DESCRIPTION
//   A fixed array of entries, each one atomic word: empty, available until a deadline, or used
//   at a time. A lease from Redis fills empty entries (one per unit) with the lease's deadline;
//   a worker takes an available entry whose deadline has not passed by one compare-and-swap to
//   "used at now"; a give-back swaps it back to available. The cluster thread later reclaims
//   used entries (reporting when they were used) and unused ones (expired, or more than the
//   node needs) and returns them to Redis, which is how the fleet count learns what each unit
//   did (docs/cluster.md, "Rate limits across the fleet").
//
//   Each word carries a 16-bit generation that the cluster thread moves at every fill, so a
//   give-back that comes after its entry was reclaimed and filled again fails its
//   compare-and-swap instead of freeing a unit of the next lease.
//
//   Only the cluster thread turns an empty entry into anything, and only it empties one: the
//   workers move entries between available and used, never out of the lease they belong to.
//
// Thread: `take`, `give_back`, `note_starved` from any thread, lock-free; `fill`, `reclaim`,
// `entry_state` and the setters from the cluster thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace relay::policy {

// A unit taken from a leased budget: where, and the words before and after.
struct LeasedUnit {
    std::uint32_t entry = 0;
    std::uint64_t available_word = 0;
    std::uint64_t used_word = 0;
};

// Redis's reachability as every worker sees it (one per process).
struct FleetHealth {
    // 0 while Redis answers; otherwise the steady-clock millisecond it stopped answering (or
    // relayd started without reaching it).
    std::atomic<std::int64_t> down_since_ms{0};
};

class LeasedBudget {
  public:
    enum class State : std::uint8_t { empty = 0, available = 1, used = 2 };
    struct Entry {
        State state = State::empty;
        std::int64_t time_ms = 0;  // available: the deadline; used: when taken
        std::uint64_t word = 0;    // to hand to `reclaim`
    };

    LeasedBudget(std::string username, std::uint32_t messages, std::uint32_t window_s,
                 std::uint32_t capacity);
    LeasedBudget(const LeasedBudget&) = delete;
    LeasedBudget& operator=(const LeasedBudget&) = delete;

    [[nodiscard]] std::optional<LeasedUnit> take(std::int64_t now_ms);
    void give_back(const LeasedUnit& unit);
    // A worker found nothing to take: true for the first caller since the cluster thread last
    // cleared it (that caller wakes the cluster thread).
    bool note_starved() { return !starved_.exchange(true, std::memory_order_acq_rel); }
    bool clear_starved() { return starved_.exchange(false, std::memory_order_acq_rel); }

    // Cluster thread. `fill` needs an empty entry; `reclaim` empties one if it still holds
    // `seen` (false: a worker moved it meanwhile; look again).
    void fill(std::uint32_t entry, std::int64_t deadline_ms);
    bool reclaim(std::uint32_t entry, std::uint64_t seen);
    Entry entry_state(std::uint32_t entry) const;
    std::uint32_t capacity() const { return capacity_; }
    // Entries at or past this index have never been filled (workers scan below it only).
    std::uint32_t filled_end() const { return filled_end_.load(std::memory_order_acquire); }

    // What Redis said last: no unit free before this steady-clock time (0: not full).
    void set_full_until(std::int64_t ms) { full_until_ms_.store(ms, std::memory_order_release); }
    std::int64_t full_until_ms() const { return full_until_ms_.load(std::memory_order_acquire); }
    // Full, but other nodes hold leased units they may give back: a MAIL waits a little.
    void set_contended(bool contended) { contended_.store(contended, std::memory_order_release); }
    bool contended() const { return contended_.load(std::memory_order_acquire); }
    void retire() { retired_.store(true, std::memory_order_release); }
    bool retired() const { return retired_.load(std::memory_order_acquire); }

    const std::string& username() const { return username_; }
    std::uint32_t messages() const { return messages_; }
    std::uint32_t window_s() const { return window_s_; }

  private:
    void allocate();

    std::string username_;
    std::uint32_t messages_;
    std::uint32_t window_s_;
    std::uint32_t capacity_;
    // Allocated by the first fill (cluster thread), published through filled_end_.
    std::unique_ptr<std::atomic<std::uint64_t>[]> entries_;
    std::unique_ptr<std::uint16_t[]> generations_;  // cluster thread only
    std::atomic<std::uint32_t> filled_end_{0};
    std::atomic<std::int64_t> full_until_ms_{0};
    std::atomic<bool> starved_{false};
    std::atomic<bool> contended_{false};
    std::atomic<bool> retired_{false};
};

}  // namespace relay::policy
