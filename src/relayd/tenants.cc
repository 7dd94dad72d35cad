// tenants.cc -- opening the tenant store for relayd and starting its threads.
#include "tenants.h"

#include <algorithm>
#include <chrono>

#include "relay/base/log.h"
#include "relay/engine/worker_pool.h"
#include "relay/store/open_tenant_store.h"
#include "relay/store/redis_tenant_store.h"

namespace relay {

Tenants::~Tenants() {
    bounces.reset();        // it reads the snapshots and writes the store
    store_watcher.reset();  // it wakes the snapshots
    cluster.reset();
    hash_pool.reset();
    signing_pool.reset();
    if (snapshots) {
        snapshots->stop();  // before the store it reads goes away
    }
}

namespace {

// Cluster mode: the limiter serves leased budget, before the first snapshot builds its table.
Status start_cluster(const config::Config& config, Tenants& tenants) {
    const config::Cluster& c = config.cluster;
    if (!c.enabled) {
        return {};
    }
    tenants.fleet_health = std::make_unique<policy::FleetHealth>();
    cluster::ClusterOptions options;
    options.redis = {c.redis,
                     c.password,
                     c.connect_timeout_ms,
                     c.command_timeout_ms,
                     c.reconnect_ms_min,
                     c.reconnect_ms_max};
    options.keeper.node_id = c.node_id;
    options.keeper.book.lease_ms = c.grace_ms;
    options.keeper.book.units_max = c.lease_units_max;
    auto service = cluster::ClusterService::start(options, *tenants.fleet_health);
    if (!service) {
        return service.error();
    }
    tenants.cluster = std::move(service.value());
    tenants.rate_limiter->enable_fleet(
        {tenants.fleet_health.get(), c.grace_ms, c.lease_units_max,
         [service = tenants.cluster.get()](std::shared_ptr<policy::LeasedBudget> budget) {
             service->wake(std::move(budget));
         }});
    log::info("cluster: node {} shares rate limits through Redis {} (grace {} ms)", c.node_id,
              c.redis, c.grace_ms);
    return {};
}

// Cluster mode with the shared store: a change made on any node refreshes this node's snapshot
// at once; the refresh interval stays the safety net.
void start_store_watcher(const config::Config& config, Tenants& tenants) {
    const config::Cluster& c = config.cluster;
    if (!c.enabled || !c.shared_store) {
        return;
    }
    tenants.store_watcher = std::make_unique<store::ChangeWatcher>(
        store::ChangeWatcherOptions{
            {c.redis, c.password, c.connect_timeout_ms, c.command_timeout_ms}, c.reconnect_ms_min},
        [snapshots = tenants.snapshots.get(), store = tenants.store.get(),
         failing = false]() mutable {
            snapshots->wake();
            Status replicated = store::catch_up_stop_lists(*store);
            if (!replicated && !failing) {  // said once per outage
                log::warning("cluster: stop lists: {}; lookups keep the last copy",
                             replicated.error().message);
            }
            failing = !replicated;
        });
    tenants.store_watcher->start();
    tenants.store_grace_ms = c.grace_ms;
    log::info(
        "cluster: node {} shares tenants, credentials, domains, DKIM keys and stop lists "
        "through Redis {}",
        c.node_id, c.redis);
}

}  // namespace

Result<std::unique_ptr<Tenants>> start_tenants(const config::Config& config) {
    auto tenants = std::make_unique<Tenants>();
    auto store = store::open_tenant_store(config);
    if (!store) {
        return store.error();
    }
    tenants->store = std::move(store.value());
    tenants->snapshots = std::make_unique<policy::TenantSnapshots>(*tenants->store);
    tenants->rate_limiter = std::make_unique<policy::RateLimiter>();
    if (Status fleet = start_cluster(config, *tenants); !fleet) {
        return fleet.error();
    }
    // On the engine's monotonic clock, as the sessions' decisions are (ingress.cc).
    tenants->snapshots->set_before_publish(
        [limiter = tenants->rate_limiter.get()](const policy::TenantSnapshot& snapshot) {
            limiter->update(snapshot, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
        });
    if (Status started = tenants->snapshots->start(config.store.refresh_interval_ms); !started) {
        return started.error();
    }
    start_store_watcher(config, *tenants);
    const config::Credentials& c = config.credentials;
    auto pool =
        policy::HashPool::start({c.hash_threads,
                                 c.hash_queue_max,
                                 {c.argon2_memory_kib, c.argon2_iterations, c.argon2_parallelism}});
    if (!pool) {
        return Error{"credentials: " + pool.error().message};
    }
    tenants->hash_pool = std::move(pool.value());
    // One thread signs about 1,900 RSA-2048 messages a second here, fewer than the workers
    // accept: by default there is one per worker, so that signing follows the machine as the
    // workers do. The queue bounds the messages waiting for them, and a message that finds it
    // full is signed on its worker instead of waiting. The pool's stand-in password hash is not
    // used for signing: the cheapest Argon2id will do.
    std::uint32_t signing_threads = config.dkim.signing_threads;
    if (signing_threads == 0) {
        int workers =
            config.server.workers > 0 ? config.server.workers : engine::WorkerPool::default_count();
        signing_threads = static_cast<std::uint32_t>(std::clamp(workers, 1, 64));
    }
    auto signing =
        policy::HashPool::start({signing_threads, config.dkim.signing_queue_max, {8, 1, 1}});
    if (!signing) {
        return Error{"dkim: " + signing.error().message};
    }
    tenants->signing_pool = std::move(signing.value());
    const config::Limits& limits = config.limits;
    auto throttle = policy::LoginThrottle::with_random_key(
        {limits.auth_failures_before_delay, limits.auth_failure_delay_ms,
         limits.auth_failure_delay_ms_max, limits.auth_failures_before_lockout,
         limits.auth_failure_window_s, limits.auth_lockout_s, limits.auth_throttle_slots});
    if (!throttle) {
        return throttle.error();
    }
    tenants->throttle = std::move(throttle.value());
    auto snapshot = tenants->snapshots->current();
    log::info(
        "tenants: generation {}: {} projects, {} resources, {} domains, {} DKIM keys "
        "(store {})",
        snapshot->generation(), snapshot->projects(), snapshot->resources(), snapshot->domains(),
        snapshot->dkim_keys().keys(), config.store.path);
    for (const std::string& unusable : snapshot->dkim_keys().unusable()) {
        log::warning(
            "tenants: DKIM key {} is left out: mail is signed with the domain's other "
            "keys, if any",
            unusable);
    }
    return tenants;
}

}  // namespace relay
