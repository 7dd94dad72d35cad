// open_tenant_store.cc -- picking the store's backend from the configuration.
#include "relay/store/open_tenant_store.h"

#include "relay/store/lmdb_tenant_store.h"
#include "relay/store/redis_tenant_store.h"

namespace relay::store {

Result<std::unique_ptr<TenantStore>> open_tenant_store(const config::Config& config) {
    auto local = open_lmdb_tenant_store({config.store.path, config.store.map_bytes});
    if (!local) {
        return local.error();
    }
    const config::Cluster& cluster = config.cluster;
    if (!cluster.enabled || !cluster.shared_store) {
        return std::move(local.value());
    }
    return open_redis_tenant_store(
        {cluster.redis, cluster.password, cluster.connect_timeout_ms, cluster.command_timeout_ms},
        std::move(local.value()));
}

}  // namespace relay::store
