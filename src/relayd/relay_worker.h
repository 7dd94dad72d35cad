// relay_worker.h -- what one worker thread of relayd runs: its share of the spool, its SMTP
// ingress and its deliveries.
//
// Thread: created, run and destroyed on its worker thread.
#pragma once

#include <functional>
#include <memory>

#include "relay/config/config.h"
#include "relay/delivery/delivery.h"
#include "relay/engine/reactor.h"
#include "relay/engine/worker_pool.h"
#include "relay/ingress/connection_limits.h"
#include "relay/ingress/ingress.h"
#include "relay/spool/spool_folder.h"
#include "relay/spool/worker_spool.h"
#include "relay/tls/server_context.h"

namespace relay {

class RelayWorker final : public engine::WorkerContext {
  public:
    static Result<std::unique_ptr<RelayWorker>> start(engine::Reactor& reactor,
                                                      const config::Config& config,
                                                      spool::SpoolFolder& folder,
                                                      ingress::ConnectionLimits& limits,
                                                      int worker_count,
                                                      const tls::ServerContextSlot* server_tls);
    ~RelayWorker() override;

    // Graceful stop: no new connections, sessions and deliveries finish, spool flushed; then
    // the loop ends.
    void shutdown();
    delivery::Delivery& delivery() { return delivery_; }

  private:
    RelayWorker(engine::Reactor& reactor, const config::Config& config, spool::SpoolFolder& folder,
                ingress::ConnectionLimits& limits, int worker_count,
                const tls::ServerContextSlot* server_tls);
    void schedule_compaction();

    engine::Reactor& reactor_;
    spool::WorkerSpool spool_;
    delivery::Delivery delivery_;
    ingress::Ingress ingress_;
    engine::TimerQueue::TimerId compact_timer_ = 0;
};

}  // namespace relay
