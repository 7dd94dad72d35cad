// redis_stop_lists.cc -- stop-list writes as Redis optimistic transactions.
#include "redis_stop_lists.h"

#include <algorithm>

#include "redis_keys.h"
#include "redis_stop_log.h"

namespace relay::store::internal {
namespace {

constexpr int write_attempts_max = 32;

}  // namespace

Status RedisStopLists::write(std::vector<StopChange>& changes,
                             const std::function<Status(std::vector<StopChange>&)>& check) {
    std::lock_guard lock(mutex_);
    const std::vector<StopChange> wanted = changes;
    for (int attempt = 0; attempt < write_attempts_max; ++attempt) {
        changes = wanted;
        auto watched = connection_.pipeline(
            {{"WATCH", std::string(redis_keys::generation), std::string(redis_keys::stop_seq)},
             {"GET", std::string(redis_keys::stop_seq)}});
        if (!watched) {
            return watched.error();
        }
        std::uint64_t seq = to_number(watched.value()[1]);
        if (Status checked = check(changes); !checked || changes.empty()) {
            if (auto unwatched = connection_.command({"UNWATCH"}); !unwatched) {
                return unwatched.error();
            }
            return checked;
        }
        RedisCommands commands{{"MULTI"}};
        append_stop_changes(commands, seq, changes);
        commands.push_back({"PUBLISH", std::string(redis_keys::changes_channel), "stops"});
        commands.push_back({"EXEC"});
        auto replies = connection_.pipeline(commands);
        if (!replies) {
            return replies.error();
        }
        const RedisReply& exec = replies->back();
        if (exec.type == RedisReply::Type::nil) {
            continue;
        }
        if (exec.type != RedisReply::Type::array) {
            return unreadable("EXEC with " + exec.text);
        }
        return {};
    }
    return make_error(ErrorCode::unavailable, Blame::relay,
                      "the stop lists kept changing on other nodes; try again");
}

Status RedisStopLists::add_stop(const StopEntry& entry) {
    return add_stops(std::span<const StopEntry>(&entry, 1));
}

Status RedisStopLists::add_stops(std::span<const StopEntry> entries) {
    std::vector<StopChange> changes;
    std::vector<std::string> scopes;
    for (const StopEntry& entry : entries) {
        changes.push_back(
            {StopChange::Kind::put, entry.scope, stop_field(entry.address), stop_value(entry)});
        if (!entry.scope.empty() &&
            std::find(scopes.begin(), scopes.end(), entry.scope) == scopes.end()) {
            scopes.push_back(entry.scope);
        }
    }
    return write(changes, [&](std::vector<StopChange>&) -> Status {
        for (const std::string& scope : scopes) {
            auto owner = connection_.command(
                {"HEXISTS", std::string(redis_keys::table(Table::resources)), scope});
            if (!owner) {
                return owner.error();
            }
            if (owner->integer == 0) {
                return make_error(ErrorCode::not_found, Blame::client, "no resource " + scope);
            }
        }
        return {};
    });
}

Result<bool> RedisStopLists::remove_stop(const std::string& scope, const StopAddress& address) {
    std::vector<StopChange> changes{{StopChange::Kind::erase, scope, stop_field(address), ""}};
    Status written = write(changes, [&](std::vector<StopChange>& pending) -> Status {
        auto existing =
            connection_.command({"HEXISTS", redis_keys::stops(scope), pending[0].field});
        if (!existing) {
            return existing.error();
        }
        if (existing->integer == 0) {
            pending.clear();
        }
        return {};
    });
    if (!written) {
        return written.error();
    }
    return !changes.empty();
}

Status RedisStopLists::for_each_stop(const std::string& scope,
                                     const std::function<void(const StopEntry&)>& visit) {
    Result<RedisReply> reply = [&] {
        std::lock_guard lock(mutex_);
        return connection_.command({"HGETALL", redis_keys::stops(scope)});
    }();
    if (!reply) {
        return reply.error();
    }
    std::vector<std::pair<std::string, std::string>> rows;
    for (std::size_t at = 0; at + 1 < reply->elements.size(); at += 2) {
        rows.emplace_back(reply->elements[at].text, reply->elements[at + 1].text);
    }
    std::sort(rows.begin(), rows.end());  // key order, as the LMDB lists
    StopEntry entry;
    for (const auto& [field, value] : rows) {
        if (!decode_stop(scope, field, value, entry)) {
            return unreadable("a damaged stop-list record in " + redis_keys::stops(scope));
        }
        visit(entry);
    }
    return {};
}

}  // namespace relay::store::internal
