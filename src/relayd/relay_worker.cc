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

// This worker's login checker: answers from the hash pool come back through its inbox.
std::unique_ptr<policy::CredentialVerifier> make_verifier(engine::Reactor& reactor,
                                                          const config::Config& config,
                                                          Tenants* tenants) {
    if (tenants == nullptr) {
        return nullptr;
    }
    auto verifier = policy::CredentialVerifier::create(
        *tenants->snapshots, *tenants->hash_pool,
        [&reactor](std::function<void()> task) { reactor.post(std::move(task)); },
        config.credentials.remembered_logins_max);
    if (!verifier) {
        log::error("worker {}: logins are refused (454): {}", reactor.index(),
                   verifier.error().message);
        return nullptr;
    }
    return std::move(verifier.value());
}

stats::WorkerCounter* stats_of(Tenants* tenants, int worker) {
    if (tenants == nullptr || !tenants->stats) {
        return nullptr;
    }
    return &tenants->stats->worker(worker);
}

ingress::Tenancy tenancy_of(Tenants* tenants, policy::CredentialVerifier* verifier, int worker) {
    if (tenants == nullptr) {
        return ingress::Tenancy{nullptr, verifier, nullptr};
    }
    return ingress::Tenancy{
        tenants->snapshots.get(),
        verifier,
        tenants->throttle.get(),
        &tenants->store->stop_lists(),
        tenants->rate_limiter.get(),
        tenants->signing_pool.get(),
        stats_of(tenants, worker),
        tenants->bounces.get(),
        tenants->tls_versions ? &tenants->tls_versions->worker(worker) : nullptr,
        tenants->store_watcher ? &tenants->store_watcher->unreachable_since() : nullptr,
        tenants->store_grace_ms,
        tenants->bounce_limits.get()};
}

}  // namespace

RelayWorker::RelayWorker(engine::Reactor& reactor, std::shared_ptr<const config::Config> config,
                         spool::SpoolFolder& folder, ingress::ConnectionLimits& limits,
                         delivery::DestinationBudget& budget, int worker_count, Tenants* tenants,
                         const tls::ServerContextSlot* server_tls)
    : reactor_(reactor),
      started_config_(std::move(config)),
      spool_(reactor, reactor.index(), spool_options(*started_config_, folder, worker_count),
             folder.next_sequence(), folder.largest_queue_id()),
      delivery_(reactor, *started_config_, spool_, budget),
      verifier_(make_verifier(reactor, *started_config_, tenants)),
      ingress_(reactor, started_config_, spool_, limits,
               tenancy_of(tenants, verifier_.get(), reactor.index()), server_tls) {
    if (stats::WorkerCounter* counter = stats_of(tenants, reactor.index())) {
        stats::WorkerLatency* latency = tenants->delivery_latency
                                            ? &tenants->delivery_latency->worker(reactor.index())
                                            : nullptr;
        stats::WorkerTlsVersions* versions =
            tenants->tls_versions ? &tenants->tls_versions->worker(reactor.index()) : nullptr;
        stats_outcomes_ =
            std::make_unique<StatsOutcomes>(*counter, tenants->bounces.get(), latency, versions);
        delivery_.add_listener(stats_outcomes_.get());
    }
    if (tenants != nullptr && tenants->mta_sts) {
        delivery_.use_mta_sts(
            *tenants->mta_sts,
            tenants->mta_sts->report_shard(static_cast<std::size_t>(reactor.index())),
            reactor.index() == 0);
    }
}

RelayWorker::~RelayWorker() {
    reactor_.timers().cancel(compact_timer_);
}

Result<std::vector<std::vector<int>>> RelayWorker::bind_listeners(const config::Config& config,
                                                                  int workers) {
    std::vector<std::vector<int>> sockets(static_cast<std::size_t>(workers));
    for (std::vector<int>& worker_sockets : sockets) {
        for (const config::Listener& listener : config.listeners) {
            auto fd = engine::TcpListener::bind_socket(listener.address, 4096);
            if (!fd) {
                return fd.error();  // relayd exits: the sockets made so far go with it
            }
            worker_sockets.push_back(fd.value());
        }
    }
    return sockets;
}

Result<std::unique_ptr<RelayWorker>> RelayWorker::start(
    engine::Reactor& reactor, std::shared_ptr<const config::Config> config,
    spool::SpoolFolder& folder, ingress::ConnectionLimits& limits,
    delivery::DestinationBudget& budget, int worker_count, Tenants* tenants,
    const std::vector<std::vector<int>>& listener_sockets,
    const tls::ServerContextSlot* server_tls) {
    std::unique_ptr<RelayWorker> worker(new RelayWorker(reactor, std::move(config), folder, limits,
                                                        budget, worker_count, tenants, server_tls));
    spool::WorkerShare share = folder.take_share(reactor.index());
    Status opened = worker->spool_.open(share.segments, std::move(share.messages));
    if (!opened) {
        return opened.error();
    }
    Status delivering = worker->delivery_.start();
    if (!delivering) {
        return delivering.error();
    }
    Status listening =
        worker->ingress_.listen(listener_sockets[static_cast<std::size_t>(reactor.index())]);
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

void RelayWorker::reconfigure(const std::shared_ptr<const config::Config>& config) {
    ingress_.reconfigure(config);
    delivery_.reconfigure(config);
}

void RelayWorker::shutdown() {
    reactor_.timers().cancel(compact_timer_);
    ingress_.shutdown([this] {
        delivery_.shutdown([this] { spool_.flush([this](const Status&) { reactor_.stop(); }); });
    });
}

}  // namespace relay
