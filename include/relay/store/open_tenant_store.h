// open_tenant_store.h -- the tenant store the configuration asks for: the node's own LMDB store,
// or in cluster mode with a shared store (`[cluster] shared_store`, the default) the Redis
// backend over it (redis_tenant_store.h).
//
// Thread: the caller's; opening the LMDB store touches the disk, the Redis one connects later.
#pragma once

#include <memory>

#include "relay/base/result.h"
#include "relay/config/config.h"
#include "relay/store/tenant_store.h"

namespace relay::store {

Result<std::unique_ptr<TenantStore>> open_tenant_store(const config::Config& config);

}  // namespace relay::store
