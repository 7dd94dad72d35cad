// redis_tenant_store.h -- the shared tenant store of cluster mode: tenants in Redis.
//
// Projects, resources, domains and DKIM keys live in Redis hashes (docs/cluster.md, "What the
// fleet shares"); the rules are the LMDB backend's (tenant_rules.h). A change is an optimistic
// transaction: WATCH the generation, read what the rule needs, then MULTI, the writes, INCR of
// the generation and a PUBLISH on relay:changes, EXEC; a concurrent change on another node
// makes EXEC fail and the change runs again on the new state. The node's own LMDB store
// (`local`) keeps what stays local.
//
// Thread: any, one call at a time or concurrently (calls share one connection behind a mutex);
// every call may block up to Redis's timeouts, so never on a worker's loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "relay/base/result.h"
#include "relay/store/tenant_store.h"

namespace relay::store {

struct RedisStoreOptions {
    std::string address;  // "HOST:PORT", "[IPV6]:PORT" or a unix socket path
    std::string password;
    std::uint32_t connect_timeout_ms = 1000;
    std::uint32_t command_timeout_ms = 1000;
};

// Does not connect: the first call does (so relayd starts, and serves from its snapshot, while
// Redis is down).
std::unique_ptr<TenantStore> open_redis_tenant_store(const RedisStoreOptions& options,
                                                     std::unique_ptr<TenantStore> local);

// Brings the node's stop-list replica up to date with Redis (stop_list_replica.h); nothing for
// another backend. From one thread only (the change watcher's).
Status catch_up_stop_lists(TenantStore& store);

}  // namespace relay::store
