// cluster_service.h -- cluster mode's thread: its own reactor, the Redis link and the lease
// keeper, started by relayd when the configuration has a [cluster] section.
//
// Thread: started and stopped on the main thread; `wake` from any thread (a posted task).
#pragma once

#include <memory>
#include <thread>

#include "relay/base/result.h"
#include "relay/cluster/lease_keeper.h"
#include "relay/cluster/redis_link.h"
#include "relay/policy/leased_budget.h"

namespace relay::cluster {

struct ClusterOptions {
    RedisLinkOptions redis;
    LeaseKeeperOptions keeper;
};

class ClusterService {
  public:
    static Result<std::unique_ptr<ClusterService>> start(const ClusterOptions& options,
                                                         policy::FleetHealth& health);
    ~ClusterService();
    ClusterService(const ClusterService&) = delete;
    ClusterService& operator=(const ClusterService&) = delete;

    void wake(std::shared_ptr<policy::LeasedBudget> budget);

  private:
    ClusterService() = default;

    std::thread thread_;
    engine::Reactor* reactor_ = nullptr;
    LeaseKeeper* keeper_ = nullptr;
};

}  // namespace relay::cluster
