// rate_limiter.h -- the per-resource message rate limits of all workers: which ResourceRate
// holds each resource's budget, found by SMTP username.
//
// SYNOPSIS
//   RateLimiter limiter;
//   limiter.update(snapshot, now_ms);                     // refresh thread, before publishing
//   RateAdmission admission = limiter.acquire(username, now_ms);   // a worker, at MAIL
//   RateLimiter::give_back(*admission.unit);             // the transaction queued nothing
//
// DESCRIPTION
//   The table maps each resource's username to its ResourceRate (resource_rate.h). It is
//   immutable once built and published like the tenant snapshot: an atomic shared pointer that
//   `update` swaps and `acquire` loads. `update` is called with each new tenant snapshot, before
//   the snapshot is published (so a session that sees a resource finds its budget): a resource
//   whose limit is unchanged keeps its ResourceRate, with every unit it holds; a new resource
//   gets a fresh one; a resource whose limit changed (relayctl resource set-limit) gets a
//   successor that counts the units its old budget holds, and the old one is retired, so that
//   the change neither forgets nor doubles what was sent. A removed resource's budget goes with
//   the last unit that refers to it.
//
//   The same table holds each resource's count of logged-in connections (`admit_login`), kept
//   across every update.
//
//   A unit keeps its ResourceRate alive, so a transaction that outlives a change gives its unit
//   back where it took it; its successor counted it as busy and does so until it expires.
//
//   Cluster mode (`enable_fleet`, before the first update): each resource also gets a
//   LeasedBudget (leased_budget.h), and `acquire` takes its units from there instead of the
//   local slot array: the fleet's count lives in Redis and this node serves only what it has
//   leased. With nothing leased, the admission says why: the limit is reached fleet-wide (as
//   Redis said last: `retry_after_ms`), or Redis has not answered for the grace period
//   (`unavailable`), or units are on their way or may be given back by other nodes (`wait`:
//   ask again in a few milliseconds). The
//   first worker to find a budget empty wakes the cluster thread through `wake`.
//
//   Each thread keeps its own reference to the current table and compares a version number on
//   every call (a load, not a write), so a decision writes no line shared by all resources;
//   it writes its slot and the reference count of its resource's budget. A thread that stops
//   deciding keeps an old table alive until it decides again.
//
// Thread: `acquire` and `give_back` from any thread, lock-free; `update` from one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "relay/policy/leased_budget.h"
#include "relay/policy/resource_rate.h"
#include "relay/policy/tenant_snapshot.h"

namespace relay::policy {

// A unit a transaction holds until its message is queued (then `spend`) or not (`give_back`).
struct RateUnit {
    std::shared_ptr<ResourceRate> rate;
    RateUnitSlot slot;
    std::shared_ptr<LeasedBudget> leased;  // cluster mode: the unit is this budget's
    LeasedUnit leased_unit;
};

struct FleetOptions {
    const FleetHealth* health = nullptr;
    std::int64_t grace_ms = 10000;
    std::uint32_t entries = 256;  // leased units a node may hold per resource
    // Called (from a worker) with a budget a worker found empty, once until the cluster thread
    // looks at it.
    std::function<void(std::shared_ptr<LeasedBudget>)> wake;
};

// A connection logged in as a resource, counted until `end_login` (limits.
// connections_per_resource_max).
struct ResourceLogin {
    std::shared_ptr<std::atomic<std::uint32_t>> count;  // null: not counted
};

struct RateAdmission {
    std::optional<RateUnit> unit;  // empty: refused (or no such resource)
    bool known = false;            // the username is a resource of the current table
    std::uint32_t messages = 0;    // its limit, for the reply
    std::uint32_t window_s = 0;
    std::int64_t retry_after_ms = 0;  // when refused: until a unit is free (>= 1)
    bool unavailable = false;         // cluster mode: Redis is unreachable past the grace
    // Cluster mode: units are being leased, or other nodes hold some they may give back; ask
    // again soon. With `retry_after_ms` set, the limit is reached unless they do.
    bool wait = false;
};

class RateLimiter {
  public:
    RateLimiter();

    // Cluster mode, set once before the first `update`.
    void enable_fleet(FleetOptions options);
    bool fleet() const { return fleet_.health != nullptr; }
    // Every current leased budget (the cluster thread's view of what exists).
    void for_each_leased(const std::function<void(const std::shared_ptr<LeasedBudget>&)>& f) const;

    // Builds the table for `snapshot`'s resources (see above). One thread at a time.
    void update(const TenantSnapshot& snapshot, std::int64_t now_ms);
    [[nodiscard]] RateAdmission acquire(std::string_view username, std::int64_t now_ms) const;
    // The transaction ended without a queued message: the unit is free again at once.
    static void give_back(RateUnit& unit);

    // Counts a login of `username` unless `max` of them are counted already (nullopt then). A
    // name not in the table (removed meanwhile) is admitted uncounted. The count is one atomic
    // per resource, kept across updates whatever its limit does.
    [[nodiscard]] std::optional<ResourceLogin> admit_login(std::string_view username,
                                                           std::uint32_t max) const;
    static void end_login(ResourceLogin& login);
    std::uint32_t logins(std::string_view username) const;
    std::size_t resources() const { return table().size(); }

  private:
    // Looked up by string_view without building a string (transparent hash and equality).
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view name) const {
            return std::hash<std::string_view>()(name);
        }
    };
    struct Entry {
        std::shared_ptr<ResourceRate> rate;
        std::shared_ptr<std::atomic<std::uint32_t>> logins;
        std::shared_ptr<LeasedBudget> leased;  // cluster mode only
    };
    RateAdmission acquire_leased(const Entry& entry, RateAdmission admission,
                                 std::int64_t now_ms) const;
    using Table = std::unordered_map<std::string, Entry, NameHash, std::equal_to<>>;
    // The calling thread's copy of the current table (see rate_limiter.cc).
    const Table& table() const;

    std::uint64_t id_;  // tells limiters apart in the threads' copies
    std::atomic<std::shared_ptr<const Table>> table_;
    std::atomic<std::uint64_t> version_{0};  // moves after each store of table_
    FleetOptions fleet_;
};

}  // namespace relay::policy
