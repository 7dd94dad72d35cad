// redis_tenant_store.cc -- the tenant rules inside Redis optimistic transactions.
//
// A change: WATCH relay:{tenants}:generation, GET it, run the rule with generation + 1 on tables
// that read from Redis and buffer the writes, then MULTI, the buffered HSET/HDEL, INCR of the
// generation, PUBLISH, EXEC in one round trip. Every tenant change INCRs the generation, so
// watching that one key catches any other change committed in between: EXEC then answers nil
// and the rule runs again on the new state (at most `change_attempts_max` times). A rule that
// fails sends UNWATCH and writes nothing. A load reads the generation and the four hashes inside
// one MULTI/EXEC, so it sees one committed state.
//
// Thread: see redis_tenant_store.h.
#include "relay/store/redis_tenant_store.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "redis_admin_tokens.h"
#include "redis_connection.h"
#include "redis_keys.h"
#include "redis_stats.h"
#include "redis_stop_lists.h"
#include "redis_stop_log.h"
#include "stop_list_replica.h"
#include "tenant_rules.h"

namespace relay::store {
namespace {

using internal::RedisConnection;
using internal::RedisReply;
using internal::Table;
namespace keys = internal::redis_keys;

// Bounds the retries of a change that keeps losing to concurrent writers; each lost attempt
// means another change committed, so the fleet as a whole made progress.
constexpr int change_attempts_max = 32;
constexpr std::size_t table_count = 4;

Error protocol_error(const std::string& what) {
    return make_error(ErrorCode::internal, Blame::relay, "Redis answered " + what);
}

Result<std::uint64_t> parse_generation(const RedisReply& reply) {
    if (reply.type == RedisReply::Type::nil) {
        return std::uint64_t{0};
    }
    if (reply.type == RedisReply::Type::integer && reply.integer >= 0) {
        return static_cast<std::uint64_t>(reply.integer);
    }
    if (reply.type == RedisReply::Type::text) {
        char* end = nullptr;
        unsigned long long value = std::strtoull(reply.text.c_str(), &end, 10);
        if (end != reply.text.c_str() && *end == '\0') {
            return static_cast<std::uint64_t>(value);
        }
    }
    return protocol_error("an unreadable tenant generation");
}

using Rows = std::map<std::string, std::string, std::less<>>;

Result<Rows> parse_hash(const RedisReply& reply) {
    if (reply.type != RedisReply::Type::array || reply.elements.size() % 2 != 0) {
        return protocol_error("a hash that is not field/value pairs");
    }
    Rows rows;
    for (std::size_t index = 0; index < reply.elements.size(); index += 2) {
        rows.emplace(reply.elements[index].text, reply.elements[index + 1].text);
    }
    return rows;
}

// The tables as Redis holds them, with this change's writes laid over them. A table read in
// whole (for a prefix) is read once per attempt.
class RedisTables final : public internal::TenantTables {
  public:
    explicit RedisTables(RedisConnection* connection) : connection_(connection) {}

    // A read-only view of tables already read in whole.
    void adopt(Table table, Rows rows) {
        whole_[index(table)] = std::move(rows);
        loaded_[index(table)] = true;
    }

    Result<std::optional<std::string>> find(Table table, std::string_view key) const override {
        const auto& pending = pending_[index(table)];
        if (auto found = pending.find(key); found != pending.end()) {
            return found->second;
        }
        if (loaded_[index(table)]) {
            const Rows& rows = whole_[index(table)];
            auto found = rows.find(key);
            return found == rows.end() ? std::optional<std::string>()
                                       : std::optional<std::string>(found->second);
        }
        auto reply =
            connection_->command({"HGET", std::string(keys::table(table)), std::string(key)});
        if (!reply) {
            return reply.error();
        }
        if (reply->type == RedisReply::Type::nil) {
            return std::optional<std::string>();
        }
        if (reply->type != RedisReply::Type::text) {
            return protocol_error("HGET with " + reply->text);
        }
        return std::optional<std::string>(std::move(reply->text));
    }

    Status for_each_prefixed(
        Table table, std::string_view prefix,
        const std::function<void(std::string_view, std::string_view)>& visit) const override {
        if (!loaded_[index(table)]) {
            auto reply = connection_->command({"HGETALL", std::string(keys::table(table))});
            if (!reply) {
                return reply.error();
            }
            auto rows = parse_hash(reply.value());
            if (!rows) {
                return rows.error();
            }
            whole_[index(table)] = std::move(rows.value());
            loaded_[index(table)] = true;
        }
        Rows merged = whole_[index(table)];
        for (const auto& [key, value] : pending_[index(table)]) {
            if (value) {
                merged[key] = *value;
            } else {
                merged.erase(key);
            }
        }
        for (auto row = merged.lower_bound(prefix);
             row != merged.end() && std::string_view(row->first).substr(0, prefix.size()) == prefix;
             ++row) {
            visit(row->first, row->second);
        }
        return {};
    }

    Status put(Table table, std::string_view key, std::string_view value) override {
        pending_[index(table)][std::string(key)] = std::string(value);
        return {};
    }
    Status erase(Table table, std::string_view key) override {
        pending_[index(table)][std::string(key)] = std::nullopt;
        return {};
    }
    Status erase_stop_scope(const std::string& scope) override {
        erased_scopes_.push_back(scope);
        return {};
    }

    // The buffered writes as commands for the MULTI block.
    void append_writes(std::vector<std::vector<std::string>>& commands) const {
        for (std::size_t table = 0; table < table_count; ++table) {
            std::string key(keys::table(static_cast<Table>(table)));
            for (const auto& [field, value] : pending_[table]) {
                if (value) {
                    commands.push_back({"HSET", key, field, *value});
                } else {
                    commands.push_back({"HDEL", key, field});
                }
            }
        }
    }
    const std::vector<std::string>& erased_scopes() const { return erased_scopes_; }

  private:
    static std::size_t index(Table table) { return static_cast<std::size_t>(table); }

    RedisConnection* connection_;
    std::map<std::string, std::optional<std::string>, std::less<>> pending_[table_count];
    mutable Rows whole_[table_count];
    mutable bool loaded_[table_count] = {};
    std::vector<std::string> erased_scopes_;
};

class RedisTenantStore final : public internal::RuledTenantStore {
  public:
    RedisTenantStore(const RedisStoreOptions& options, std::unique_ptr<TenantStore> local)
        : connection_(connection_options(options)),
          local_(std::move(local)),
          stop_lists_(connection_options(options), local_->stop_lists()),
          stats_(connection_options(options)),
          admin_tokens_(connection_options(options)) {
        if (internal::LmdbStopLists* replica = internal::lmdb_stop_lists(*local_)) {
            replica_ =
                std::make_unique<internal::StopListReplica>(connection_options(options), *replica);
        }
    }

    static internal::RedisConnectionOptions connection_options(const RedisStoreOptions& options) {
        return {options.address, options.password, options.connect_timeout_ms,
                options.command_timeout_ms};
    }

    Status catch_up_stop_lists() { return replica_ ? replica_->catch_up() : Status{}; }

    Result<std::uint64_t> generation() override {
        std::lock_guard lock(mutex_);
        auto reply = connection_.command({"GET", std::string(keys::generation)});
        if (!reply) {
            return reply.error();
        }
        return parse_generation(reply.value());
    }

    StopListStore& stop_lists() override { return stop_lists_; }
    StatsStore& stats() override { return stats_; }
    MessageIndex& message_index() override { return local_->message_index(); }
    AdminTokenStore& admin_tokens() override { return admin_tokens_; }

  protected:
    Status change(const Change& rule) override;
    Status read(const Read& reader) override;

  private:
    // One attempt; true when committed, false when another change came first.
    Result<bool> try_change(const Change& rule, Status& rule_status);

    std::mutex mutex_;
    RedisConnection connection_;
    std::unique_ptr<TenantStore> local_;
    internal::RedisStopLists stop_lists_;
    internal::RedisStats stats_;
    internal::RedisAdminTokens admin_tokens_;
    std::unique_ptr<internal::StopListReplica> replica_;  // touched by the change watcher only
};

Result<bool> RedisTenantStore::try_change(const Change& rule, Status& rule_status) {
    // The stop-log number too: a removed resource's entries are dropped in the same change.
    auto watched =
        connection_.pipeline({{"WATCH", std::string(keys::generation), std::string(keys::stop_seq)},
                              {"GET", std::string(keys::generation)},
                              {"GET", std::string(keys::stop_seq)}});
    if (!watched) {
        return watched.error();
    }
    auto stop_seq = parse_generation(watched.value()[2]);
    if (!stop_seq) {
        return stop_seq.error();
    }
    auto generation = parse_generation(watched.value()[1]);
    if (!generation) {
        return generation.error();
    }
    std::uint64_t next = *generation + 1;
    RedisTables tables(&connection_);
    rule_status = rule(tables, next);
    if (!rule_status) {
        if (auto unwatched = connection_.command({"UNWATCH"}); !unwatched) {
            return unwatched.error();
        }
        return true;
    }
    std::vector<std::vector<std::string>> commands{{"MULTI"}};
    tables.append_writes(commands);
    std::vector<internal::StopChange> dropped;
    for (const std::string& scope : tables.erased_scopes()) {
        dropped.push_back({internal::StopChange::Kind::drop_scope, scope, "", ""});
    }
    internal::append_stop_changes(commands, *stop_seq, dropped);
    commands.push_back({"INCR", std::string(keys::generation)});
    commands.push_back(
        {"PUBLISH", std::string(keys::changes_channel), "tenants " + std::to_string(next)});
    commands.push_back({"EXEC"});
    auto replies = connection_.pipeline(commands);
    if (!replies) {
        return replies.error();
    }
    const RedisReply& exec = replies->back();
    if (exec.type == RedisReply::Type::nil) {
        return false;
    }
    if (exec.type != RedisReply::Type::array) {
        return protocol_error("EXEC with " + exec.text);
    }
    for (const RedisReply& reply : exec.elements) {
        if (reply.type == RedisReply::Type::error) {
            return protocol_error(reply.text);
        }
    }
    return true;
}

Status RedisTenantStore::change(const Change& rule) {
    std::lock_guard lock(mutex_);
    for (int attempt = 0; attempt < change_attempts_max; ++attempt) {
        Status rule_status;
        auto committed = try_change(rule, rule_status);
        if (!committed) {
            return committed.error();
        }
        if (committed.value()) {
            return rule_status;
        }
    }
    return make_error(ErrorCode::unavailable, Blame::relay,
                      "the tenants kept changing on other nodes during " +
                          std::to_string(change_attempts_max) + " attempts; try again");
}

Status RedisTenantStore::read(const Read& reader) {
    std::vector<RedisReply> replies;
    {
        std::lock_guard lock(mutex_);
        std::vector<std::vector<std::string>> commands{{"MULTI"},
                                                       {"GET", std::string(keys::generation)}};
        for (std::size_t table = 0; table < table_count; ++table) {
            commands.push_back({"HGETALL", std::string(keys::table(static_cast<Table>(table)))});
        }
        commands.push_back({"EXEC"});
        auto sent = connection_.pipeline(commands);
        if (!sent) {
            return sent.error();
        }
        replies = std::move(sent.value());
    }
    const RedisReply& exec = replies.back();
    if (exec.type != RedisReply::Type::array || exec.elements.size() != 1 + table_count) {
        return protocol_error("a tenant read with " + exec.text);
    }
    auto generation = parse_generation(exec.elements[0]);
    if (!generation) {
        return generation.error();
    }
    RedisTables tables(nullptr);
    for (std::size_t table = 0; table < table_count; ++table) {
        auto rows = parse_hash(exec.elements[1 + table]);
        if (!rows) {
            return rows.error();
        }
        tables.adopt(static_cast<Table>(table), std::move(rows.value()));
    }
    return reader(tables, *generation);
}

}  // namespace

Status catch_up_stop_lists(TenantStore& store) {
    auto* shared = dynamic_cast<RedisTenantStore*>(&store);
    return shared == nullptr ? Status{} : shared->catch_up_stop_lists();
}

std::unique_ptr<TenantStore> open_redis_tenant_store(const RedisStoreOptions& options,
                                                     std::unique_ptr<TenantStore> local) {
    return std::make_unique<RedisTenantStore>(options, std::move(local));
}

}  // namespace relay::store
