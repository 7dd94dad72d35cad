// redis_keys.h -- where the shared store keeps its state in Redis (docs/cluster.md).
//
//     relay:{tenants}:generation        counter, INCR by every tenant change
//     relay:{tenants}:projects          hash NAME -> encode_project (tenant_codec.h)
//     relay:{tenants}:resources         hash PROJECT/NAME -> encode_resource
//     relay:{tenants}:domains           hash DOMAIN -> PROJECT/NAME
//     relay:{tenants}:dkim_keys         hash DOMAIN/SELECTOR -> encode_dkim_key
//     relay:changes                     pub/sub channel: "tenants GENERATION" after a change
//
// One hash tag, so that a MULTI over them stays in one slot of a Redis Cluster.
//
// Thread: any; constants.
#pragma once

#include <string>
#include <string_view>

#include "tenant_tables.h"

namespace relay::store::internal::redis_keys {

inline constexpr std::string_view generation = "relay:{tenants}:generation";
inline constexpr std::string_view changes_channel = "relay:changes";

inline constexpr std::string_view table(Table table) {
    switch (table) {
        case Table::projects:
            return "relay:{tenants}:projects";
        case Table::resources:
            return "relay:{tenants}:resources";
        case Table::domains:
            return "relay:{tenants}:domains";
        case Table::dkim_keys:
            return "relay:{tenants}:dkim_keys";
    }
    return "relay:{tenants}:unknown";
}

}  // namespace relay::store::internal::redis_keys

namespace relay::store::internal::redis_keys {

// Stop lists (stop_list_replica.h):
//     relay:{tenants}:stops:SCOPE       hash DOMAIN \0 LOCAL -> "REASON ADDED_S EXPIRES_S"
//                                       (SCOPE empty: the global list)
//     relay:{tenants}:stop-scopes       set of the scopes that have a hash
//     relay:{tenants}:stop-seq          counter: the number of the last change in the log
//     relay:{tenants}:stop-log          stream, one entry per change: seq, op (put, erase,
//                                       drop), scope, field, value; trimmed to about
//                                       stop_log_entries_max entries
inline constexpr std::string_view stop_scopes = "relay:{tenants}:stop-scopes";
inline constexpr std::string_view stop_seq = "relay:{tenants}:stop-seq";
inline constexpr std::string_view stop_log = "relay:{tenants}:stop-log";
// A replica more than this many changes behind reloads the whole lists instead.
inline constexpr std::string_view stop_log_entries_max = "100000";

inline std::string stops(std::string_view scope) {
    return "relay:{tenants}:stops:" + std::string(scope);
}

}  // namespace relay::store::internal::redis_keys
