// relay_worker.cc -- wiring one worker's parts together, and its orderly stop.
#include "relay_worker.h"

#include "relay/base/log.h"

namespace relay {
namespace {

constexpr auto compact_interval = std::chrono::seconds(10);

spool::SpoolOptions spool_options(const config::Config& config, spool::SpoolFolder& folder,
                                  int worker_count) {
    spool::SpoolOptions options;
    options.segments_folder = folder.segments_folder();
    options.segment_bytes_max = config.spool.segment_bytes_max;
    options.chunk_bytes = config.spool.chunk_bytes;
    options.cache_bytes_max = config.spool.cache_bytes_max / static_cast<unsigned>(worker_count);
    return options;
}

}  // namespace

RelayWorker::RelayWorker(engine::Reactor& reactor, const config::Config& config,
                         spool::SpoolFolder& folder, ingress::ConnectionLimits& limits,
                         int worker_count, const tls::ServerContextSlot* server_tls)
    : reactor_(reactor),
      spool_(reactor, reactor.index(), spool_options(config, folder, worker_count),
             folder.next_sequence(), folder.largest_queue_id()),
      delivery_(reactor, config, spool_),
      ingress_(reactor, config, spool_, limits, server_tls) {}

RelayWorker::~RelayWorker() {
    reactor_.timers().cancel(compact_timer_);
}

Result<std::unique_ptr<RelayWorker>> RelayWorker::start(
    engine::Reactor& reactor, const config::Config& config, spool::SpoolFolder& folder,
    ingress::ConnectionLimits& limits, int worker_count, const tls::ServerContextSlot* server_tls) {
    std::unique_ptr<RelayWorker> worker(
        new RelayWorker(reactor, config, folder, limits, worker_count, server_tls));
    spool::WorkerShare share = folder.take_share(reactor.index());
    Status opened = worker->spool_.open(share.segments, std::move(share.messages));
    if (!opened) {
        return opened.error();
    }
    Status delivering = worker->delivery_.start();
    if (!delivering) {
        return delivering.error();
    }
    Status listening = worker->ingress_.listen();
    if (!listening) {
        return listening.error();
    }
    worker->schedule_compaction();
    return worker;
}

void RelayWorker::schedule_compaction() {
    compact_timer_ = reactor_.timers().add(reactor_.now() + compact_interval, [this] {
        spool_.compact();
        schedule_compaction();
    });
}

void RelayWorker::shutdown() {
    reactor_.timers().cancel(compact_timer_);
    ingress_.shutdown([this] {
        delivery_.shutdown([this] { spool_.flush([this](const Status&) { reactor_.stop(); }); });
    });
}

}  // namespace relay
