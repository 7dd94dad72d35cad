// tenants.h -- relayd's side of the tenant store: the store opened for the process, the
// snapshot that follows it (refresh thread) and the password-hashing pool.
//
// Workers will read `snapshots` and each make a policy::CredentialVerifier over `hash_pool`,
// posting answers to their own inbox. Stopped after the workers (the pool drops queued checks
// whose answers nobody would receive).
//
// Thread: started and destroyed on the main thread; its own threads run the refresh and the
// hashing.
#pragma once

#include <memory>

#include "relay/base/result.h"
#include "relay/cluster/cluster_service.h"
#include "relay/config/config.h"
#include "relay/feedback/processor.h"
#include "relay/ingress/connection_limits.h"
#include "relay/policy/hash_pool.h"
#include "relay/policy/login_throttle.h"
#include "relay/policy/rate_limiter.h"
#include "relay/policy/tenant_snapshots.h"
#include "relay/stats/delivery_latency.h"
#include "relay/stats/recorder.h"
#include "relay/stats/tls_versions.h"
#include "relay/store/change_watcher.h"
#include "relay/store/tenant_store.h"
#include "relay/sts/policy_service.h"

namespace relay {

struct Tenants {
    std::unique_ptr<store::TenantStore> store;
    std::unique_ptr<policy::TenantSnapshots> snapshots;
    std::unique_ptr<policy::HashPool> hash_pool;
    // One thread that makes the DKIM signatures, so that an RSA signature (0.4 ms) does not
    // hold up the other sessions of the worker that accepted the message.
    std::unique_ptr<policy::HashPool> signing_pool;
    // Failed logins per client address and username, shared by every worker.
    std::unique_ptr<policy::LoginThrottle> throttle;
    // Per-resource message rates, shared by every worker; follows the snapshots.
    std::unique_ptr<policy::RateLimiter> rate_limiter;
    // Cluster mode ([cluster]): Redis's reachability and the thread that leases rate budget.
    std::unique_ptr<policy::FleetHealth> fleet_health;
    std::unique_ptr<cluster::ClusterService> cluster;
    // Cluster mode with the shared store: the thread that hears of changes made on any node.
    std::unique_ptr<store::ChangeWatcher> store_watcher;
    std::int64_t store_grace_ms = 0;  // AUTH answers from the snapshot this long without Redis
    // One statistics table per worker and one for the bounce processor (set by relayd once it
    // knows how many workers it runs).
    std::unique_ptr<stats::Recorder> stats;
    // The bounce processor, when a listener has role = "bounce" (set by relayd with the stats).
    std::unique_ptr<feedback::Processor> bounces;
    // Their connection counts, apart from [limits]' (set with `bounces`).
    std::unique_ptr<ingress::ConnectionLimits> bounce_limits;
    // One delivery latency histogram per worker, read by /metrics (set with `stats`).
    std::unique_ptr<stats::DeliveryLatency> delivery_latency;
    // TLS versions per worker, inbound and outbound, read by /metrics (set with `stats`).
    std::unique_ptr<stats::TlsVersions> tls_versions;
    // MTA-STS policies and TLS report counts (one shard per worker), set by relayd with the
    // statistics.
    std::unique_ptr<sts::PolicyService> mta_sts;

    ~Tenants();
};

Result<std::unique_ptr<Tenants>> start_tenants(const config::Config& config);

}  // namespace relay
