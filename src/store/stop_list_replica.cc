// stop_list_replica.cc -- following the stop-log stream; a full reload when it cannot.
#include "stop_list_replica.h"

#include <cstdlib>

#include "redis_keys.h"
#include "redis_stop_log.h"

namespace relay::store::internal {
namespace {

// Entries read per XRANGE; a replica far behind takes several rounds, each its own transaction.
constexpr const char* batch_entries = "1000";
constexpr std::size_t batch_entries_count = 1000;
// A reload that keeps losing to writers gives up for this round (the next notification retries).
constexpr int resync_attempts_max = 8;

std::optional<StopChange::Kind> parse_op(std::string_view name) {
    if (name == "put") {
        return StopChange::Kind::put;
    }
    if (name == "erase") {
        return StopChange::Kind::erase;
    }
    if (name == "drop") {
        return StopChange::Kind::drop_scope;
    }
    return std::nullopt;
}

// One stream entry ([id, [field, value, ...]]) as its number and change.
bool parse_entry(const RedisReply& entry, std::uint64_t& seq, StopChange& change) {
    if (entry.type != RedisReply::Type::array || entry.elements.size() != 2) {
        return false;
    }
    const std::vector<RedisReply>& fields = entry.elements[1].elements;
    bool have_op = false;
    for (std::size_t index = 0; index + 1 < fields.size(); index += 2) {
        const std::string& name = fields[index].text;
        const std::string& value = fields[index + 1].text;
        if (name == "seq") {
            seq = std::strtoull(value.c_str(), nullptr, 10);
        } else if (name == "op") {
            auto kind = parse_op(value);
            have_op = kind.has_value();
            change.kind = kind.value_or(StopChange::Kind::put);
        } else if (name == "scope") {
            change.scope = value;
        } else if (name == "field") {
            change.field = value;
        } else if (name == "value") {
            change.value = value;
        }
    }
    return have_op && seq != 0;
}

}  // namespace

Status StopListReplica::catch_up() {
    if (!synced_) {
        return resync();
    }
    for (std::size_t round = 0; round < 64; ++round) {
        auto more = follow();
        if (!more) {
            return more.error();
        }
        if (!more.value()) {
            return {};
        }
    }
    return {};
}

Result<bool> StopListReplica::follow() {
    auto replies = connection_.pipeline({{"GET", std::string(redis_keys::stop_seq)},
                                         {"XRANGE", std::string(redis_keys::stop_log),
                                          "(" + applied_id_, "+", "COUNT", batch_entries}});
    if (!replies) {
        return replies.error();
    }
    std::uint64_t newest = to_number(replies.value()[0]);
    if (newest < applied_seq_) {
        synced_ = false;  // Redis lost its data: what it has now is the truth
        Status reloaded = resync();
        if (!reloaded) {
            return reloaded.error();
        }
        return false;
    }
    const RedisReply& entries = replies.value()[1];
    if (entries.type != RedisReply::Type::array) {
        return unreadable("XRANGE with " + entries.text);
    }
    std::vector<StopChange> changes;
    std::uint64_t seq = applied_seq_;
    std::string id = applied_id_;
    for (const RedisReply& entry : entries.elements) {
        std::uint64_t number = 0;
        StopChange change;
        if (!parse_entry(entry, number, change)) {
            return unreadable("a stop-log entry that does not read");
        }
        if (number <= seq) {
            id = entry.elements[0].text;
            continue;
        }
        if (number != seq + 1) {
            // Trimmed past what this replica applied: the log cannot bring it up to date.
            synced_ = false;
            Status reloaded = resync();
            if (!reloaded) {
                return reloaded.error();
            }
            return false;
        }
        seq = number;
        id = entry.elements[0].text;
        changes.push_back(std::move(change));
    }
    if (Status applied = local_.apply(changes, false); !applied) {
        return applied.error();
    }
    applied_seq_ = seq;
    applied_id_ = id;
    bool more = entries.elements.size() == batch_entries_count;
    if (!more && seq < newest) {
        // The log ends before the number Redis gave: the missing entries were trimmed.
        synced_ = false;
        Status reloaded = resync();
        if (!reloaded) {
            return reloaded.error();
        }
    }
    return more;
}

Status StopListReplica::resync() {
    for (int attempt = 0; attempt < resync_attempts_max; ++attempt) {
        auto first = connection_.pipeline(
            {{"WATCH", std::string(redis_keys::stop_seq)},
             {"GET", std::string(redis_keys::stop_seq)},
             {"SMEMBERS", std::string(redis_keys::stop_scopes)},
             {"XREVRANGE", std::string(redis_keys::stop_log), "+", "-", "COUNT", "1"}});
        if (!first) {
            return first.error();
        }
        std::uint64_t seq = to_number(first.value()[1]);
        const RedisReply& scopes = first.value()[2];
        const RedisReply& last = first.value()[3];
        std::vector<std::vector<std::string>> reads;
        for (const RedisReply& scope : scopes.elements) {
            reads.push_back({"HGETALL", redis_keys::stops(scope.text)});
        }
        reads.push_back({"MULTI"});
        reads.push_back({"EXEC"});  // nil when a writer changed the lists meanwhile
        auto rows = connection_.pipeline(reads);
        if (!rows) {
            return rows.error();
        }
        if (rows->back().type == RedisReply::Type::nil) {
            continue;
        }
        std::vector<StopChange> changes;
        for (std::size_t index = 0; index < scopes.elements.size(); ++index) {
            const std::vector<RedisReply>& pairs = rows.value()[index].elements;
            for (std::size_t at = 0; at + 1 < pairs.size(); at += 2) {
                changes.push_back({StopChange::Kind::put, scopes.elements[index].text,
                                   pairs[at].text, pairs[at + 1].text});
            }
        }
        if (Status applied = local_.apply(changes, true); !applied) {
            return applied;
        }
        applied_seq_ = seq;
        applied_id_ = last.elements.empty() ? "0-0" : last.elements[0].elements[0].text;
        synced_ = true;
        return {};
    }
    return make_error(ErrorCode::unavailable, Blame::relay,
                      "the stop lists kept changing while this node reloaded them");
}

}  // namespace relay::store::internal
