// redis_stop_log.h -- writing stop-list changes to Redis: the hash of their scope and the log the
// replicas follow (redis_keys.h), inside the writer's MULTI block.
//
// Thread: any; builds commands only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lmdb_stop_lists.h"
#include "redis_keys.h"

namespace relay::store::internal {

using RedisCommands = std::vector<std::vector<std::string>>;

inline std::string_view stop_op_name(StopChange::Kind kind) {
    switch (kind) {
        case StopChange::Kind::put:
            return "put";
        case StopChange::Kind::erase:
            return "erase";
        case StopChange::Kind::drop_scope:
            return "drop";
    }
    return "unknown";
}

// Appends the writes of `changes` and their log entries, numbered from `seq` + 1, and the new
// sequence number.
inline void append_stop_changes(RedisCommands& commands, std::uint64_t seq,
                                const std::vector<StopChange>& changes) {
    for (const StopChange& change : changes) {
        std::string hash = redis_keys::stops(change.scope);
        switch (change.kind) {
            case StopChange::Kind::put:
                commands.push_back({"HSET", hash, change.field, change.value});
                commands.push_back({"SADD", std::string(redis_keys::stop_scopes), change.scope});
                break;
            case StopChange::Kind::erase:
                commands.push_back({"HDEL", hash, change.field});
                break;
            case StopChange::Kind::drop_scope:
                commands.push_back({"DEL", hash});
                commands.push_back({"SREM", std::string(redis_keys::stop_scopes), change.scope});
                break;
        }
        ++seq;
        commands.push_back({"XADD", std::string(redis_keys::stop_log), "MAXLEN", "~",
                            std::string(redis_keys::stop_log_entries_max), "*", "seq",
                            std::to_string(seq), "op", std::string(stop_op_name(change.kind)),
                            "scope", change.scope, "field", change.field, "value", change.value});
    }
    if (!changes.empty()) {
        commands.push_back({"SET", std::string(redis_keys::stop_seq), std::to_string(seq)});
    }
}

}  // namespace relay::store::internal
