// lease_book.h -- the cluster thread's bookkeeping for one resource's leased budget: which
// Redis slot and lease each entry came from, when to ask for more, what to give back.
//
// SYNOPSIS
//   LeaseBook book(budget, options);
//   if (auto request = book.next_request(now_ms, redis_up)) { send it; }
//   book.on_grant(grant, sent_ms, now_ms);   // the reply
//   book.on_failure();                        // no reply (timeout, connection lost)
//
// DESCRIPTION
//   One request in flight at a time. Each request carries the units to give back and, when the
//   node needs more, how many it wants:
//   * used units go back once they are `used_hold_ms` old (a transaction gives its unit back
//     within that time if it queues nothing; after it, the unit stays spent), or at once when
//     the entries run short;
//   * unused units go back when their lease's deadline passes, when the node holds more than
//     twice what it wants, and all of them when the node saw no taking since the last look, so a
//     quiet node holds nothing that a busy one could use;
//   * the node asks for more when a worker found nothing (starved) or when what it holds fell
//     under half of `want` while it is taking units; `want` follows the rate of takings (a
//     quarter second of them, at least 1) and doubles on each starvation, bounded by
//     `units_max`, the entries and the limit. Redis grants at most half of what is free (lease
//     script), so near the limit the leases get small.
//   * when Redis said the limit is reached, the node asks again only after `full_recheck_ms`
//     (other nodes may give units back meanwhile). If other nodes hold leased units then, the
//     budget is `contended`: a MAIL waits for them rather than being refused at once.
//   * at the limit (the endgame), every node gives units back after `endgame_hold_ms`, used or
//     not taken, so that the last units of a window go where MAILs wait for them instead of
//     staying leased to a node whose clients have stopped.
//   A request without a reply is sent again with the same returns (the script applies a return
//   once: its lease record goes with it); what it may have granted expires in Redis.
//
//   A lease's deadline on this node is the request's send time plus the lease's lifetime less a
//   margin: Redis stamped the lease no earlier than the send, so every unit is taken before its
//   lease ends in Redis's time.
//
// Thread: the cluster thread (it alone fills and empties the budget's entries).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relay/cluster/lease_protocol.h"
#include "relay/policy/leased_budget.h"

namespace relay::cluster {

struct LeaseBookOptions {
    std::int64_t lease_ms = 10000;  // lifetime of a lease in Redis (the grace period)
    std::uint32_t units_max = 256;  // units one lease may carry
    std::int64_t used_hold_ms = 1000;
    std::int64_t full_recheck_ms = 50;
    // When the limit is reached fleet-wide: units go back this soon, used or not taken.
    std::int64_t endgame_hold_ms = 50;
};

class LeaseBook {
  public:
    LeaseBook(std::shared_ptr<policy::LeasedBudget> budget, const LeaseBookOptions& options);

    [[nodiscard]] std::optional<LeaseRequest> next_request(std::int64_t now_ms, bool redis_up);
    void on_grant(const LeaseGrant& grant, std::int64_t sent_ms, std::int64_t now_ms);
    void on_failure();
    // Nothing held, nothing to give back, nothing asked: the keeper may forget this book.
    bool idle() const;
    bool in_flight() const { return in_flight_; }
    std::uint32_t want() const { return want_; }
    const std::shared_ptr<policy::LeasedBudget>& budget() const { return budget_; }

  private:
    struct Record {
        std::uint32_t slot = 0;
        std::string lease_id;
        std::int64_t filled_ms = 0;
    };
    struct Scan {
        std::uint32_t available = 0;
        std::uint32_t used = 0;
        std::uint32_t empty = 0;
    };

    Scan reclaim_due(std::int64_t now_ms, bool endgame);
    Scan reclaim_used_early(Scan scan, std::uint32_t wanted);
    std::uint32_t held() const;
    void give_back_surplus(std::uint32_t keep, std::int64_t now_ms);
    void to_return(std::uint32_t entry, std::int64_t used_at_ms);
    std::uint32_t want_cap() const;

    std::shared_ptr<policy::LeasedBudget> budget_;
    LeaseBookOptions options_;
    std::vector<Record> records_;  // per entry of the budget
    std::vector<ReturnedUnit> returns_;
    std::size_t returns_in_flight_ = 0;
    bool in_flight_ = false;
    std::uint32_t want_ = 1;
    std::uint32_t takings_in_period_ = 0;
    std::int64_t period_start_ms_ = 0;
    std::int64_t last_ask_ms_ = -1000000;
    std::int64_t last_starved_ms_ = -1000000;
};

}  // namespace relay::cluster
