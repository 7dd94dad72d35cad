// relay_worker.h -- what one worker thread of relayd runs: its share of the spool, its SMTP
// ingress and its deliveries.
//
// Thread: created, run and destroyed on its worker thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "relay/config/config.h"
#include "relay/delivery/delivery.h"
#include "relay/delivery/destination_budget.h"
#include "relay/engine/reactor.h"
#include "relay/engine/worker_pool.h"
#include "relay/ingress/connection_limits.h"
#include "relay/ingress/ingress.h"
#include "relay/spool/spool_folder.h"
#include "relay/spool/worker_spool.h"
#include "relay/tls/server_context.h"
#include "stats_outcomes.h"
#include "tenants.h"

namespace relay {

class RelayWorker final : public engine::WorkerContext {
  public:
    // Every worker's listening sockets (per worker, one per configured listener), made before
    // the workers start: relayd may still be root then (ports below 1024).
    static Result<std::vector<std::vector<int>>> bind_listeners(const config::Config& config,
                                                                int workers);
    static Result<std::unique_ptr<RelayWorker>> start(
        engine::Reactor& reactor, std::shared_ptr<const config::Config> config,
        spool::SpoolFolder& folder, ingress::ConnectionLimits& limits,
        delivery::DestinationBudget& budget, int worker_count, Tenants* tenants,
        const std::vector<std::vector<int>>& listener_sockets,
        const tls::ServerContextSlot* server_tls);
    ~RelayWorker() override;

    // Graceful stop: no new connections, sessions and deliveries finish, spool flushed; then
    // the loop ends.
    void shutdown();
    delivery::Delivery& delivery() { return delivery_; }
    // A reloaded configuration (config/reload.h): new sessions and delivery attempts use it.
    void reconfigure(const std::shared_ptr<const config::Config>& config);

  private:
    RelayWorker(engine::Reactor& reactor, std::shared_ptr<const config::Config> config,
                spool::SpoolFolder& folder, ingress::ConnectionLimits& limits,
                delivery::DestinationBudget& budget, int worker_count, Tenants* tenants,
                const tls::ServerContextSlot* server_tls);
    void schedule_compaction();

    engine::Reactor& reactor_;
    std::shared_ptr<const config::Config> started_config_;  // delivery_ keeps a reference to it
    spool::WorkerSpool spool_;
    delivery::Delivery delivery_;
    std::unique_ptr<StatsOutcomes> stats_outcomes_;  // counts delivery_'s outcomes
    // Before ingress_: sessions use it, and answers still in flight find it until they are in.
    std::unique_ptr<policy::CredentialVerifier> verifier_;
    ingress::Ingress ingress_;
    engine::TimerQueue::TimerId compact_timer_ = 0;
};

}  // namespace relay
