// lease_keeper.h -- the cluster thread's loop over the leased budgets: each one that a worker
// found empty, or that holds units, is looked at every tick (and at once when a worker wakes
// it); its LeaseBook says what to ask Redis and what to give back, and the lease script's reply
// fills it.
//
// Thread: the cluster thread (the reactor's).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "relay/cluster/lease_book.h"
#include "relay/cluster/redis_link.h"
#include "relay/engine/reactor.h"

namespace relay::cluster {

struct LeaseKeeperOptions {
    std::string node_id;
    LeaseBookOptions book;
    std::uint32_t tick_ms = 10;
};

class LeaseKeeper {
  public:
    LeaseKeeper(engine::Reactor& reactor, RedisLink& link, LeaseKeeperOptions options);
    ~LeaseKeeper();
    LeaseKeeper(const LeaseKeeper&) = delete;
    LeaseKeeper& operator=(const LeaseKeeper&) = delete;

    void start();
    // A worker found `budget` empty.
    void wake(const std::shared_ptr<policy::LeasedBudget>& budget);
    // Shutting down: every budget gives all its units back; `done` runs once every book is
    // idle, or after `wait_ms` (Redis may be gone).
    void drain(std::uint32_t wait_ms, std::function<void()> done);
    std::size_t books() const { return books_.size(); }

  private:
    void tick();
    void serve(LeaseBook& book);

    engine::Reactor& reactor_;
    RedisLink& link_;
    LeaseKeeperOptions options_;
    std::unordered_map<const policy::LeasedBudget*, std::unique_ptr<LeaseBook>> books_;
    engine::TimerQueue::TimerId timer_ = 0;
    bool failing_ = false;           // the last request failed (logged once per run of failures)
    std::function<void()> drained_;  // set while draining
    std::int64_t drain_until_ms_ = 0;
};

}  // namespace relay::cluster
