// cluster_service.cc -- the cluster thread.
#include "relay/cluster/cluster_service.h"

#include <condition_variable>
#include <mutex>

#include "relay/base/log.h"
#include "relay/cluster/lease_script.h"

namespace relay::cluster {
namespace {

// The cluster thread receives nothing from sockets it accepts: a tiny buffer ring will do.
constexpr engine::ReactorOptions reactor_options{64, 2, 4096};
constexpr int reactor_index = 1000;  // names it apart from the workers in its own messages

}  // namespace

Result<std::unique_ptr<ClusterService>> ClusterService::start(const ClusterOptions& options,
                                                              policy::FleetHealth& health) {
    std::unique_ptr<ClusterService> service(new ClusterService());
    std::mutex mutex;
    std::condition_variable changed;
    bool done = false;
    Status status;
    ClusterService* raw = service.get();
    service->thread_ = std::thread([&, raw, options] {
        log::set_thread_name("cluster");
        auto reactor = engine::Reactor::create(reactor_index, reactor_options);
        if (!reactor) {
            std::lock_guard lock(mutex);
            status = reactor.error();
            done = true;
            changed.notify_all();
            return;
        }
        RedisLink link(*reactor.value(), options.redis, health, std::string(lease_script()));
        LeaseKeeper keeper(*reactor.value(), link, options.keeper);
        link.start();
        keeper.start();
        {
            std::lock_guard lock(mutex);
            raw->reactor_ = reactor.value().get();
            raw->keeper_ = &keeper;
            done = true;
            changed.notify_all();
        }
        reactor.value()->run();
    });
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return done; });
    if (!status) {
        lock.unlock();
        service->thread_.join();
        return Error{"cluster: " + status.error().message};
    }
    return service;
}

// Units this node holds go back to Redis first (up to half a second), so that a restarted or
// stopped node strands nothing for a lease and a window.
ClusterService::~ClusterService() {
    if (reactor_ != nullptr) {
        reactor_->post([reactor = reactor_, keeper = keeper_] {
            keeper->drain(500, [reactor] { reactor->stop(); });
        });
    }
    if (thread_.joinable()) {
        thread_.join();
    }
}

void ClusterService::wake(std::shared_ptr<policy::LeasedBudget> budget) {
    reactor_->post([keeper = keeper_, budget = std::move(budget)] { keeper->wake(budget); });
}

}  // namespace relay::cluster
