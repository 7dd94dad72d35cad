// redis_stats.cc -- statistics buckets as Redis hashes; see redis_stats.h for the layout.
#include "redis_stats.h"

#include <algorithm>
#include <cstdlib>

namespace relay::store::internal {
namespace {

constexpr std::uint64_t minute_expiry_s = (stats_minute_buckets_kept + 60) * 60;
constexpr std::uint64_t hour_expiry_s = (stats_hour_buckets_kept + 24) * 3600;

std::string kind_letter(StatsScopeKind kind) {
    return kind == StatsScopeKind::resource ? "r" : "d";
}

std::string scope_key(const StatsScope& scope) {
    return "relay:{stats}:" + kind_letter(scope.kind) + ":" + scope.name;
}

std::string scopes_key(StatsScopeKind kind) {
    return "relay:{stats}:scopes:" + kind_letter(kind);
}

// The counts of one hash (HGETALL's reply); counters this build does not know are skipped.
StatsCounts decode_counts(const RedisReply& reply) {
    StatsCounts counts{};
    for (std::size_t at = 0; at + 1 < reply.elements.size(); at += 2) {
        if (auto counter = parse_stats_counter(reply.elements[at].text)) {
            counts[static_cast<std::size_t>(*counter)] =
                std::strtoull(reply.elements[at + 1].text.c_str(), nullptr, 10);
        }
    }
    return counts;
}

void add_counts(StatsCounts& sum, const StatsCounts& more) {
    for (std::size_t index = 0; index < sum.size(); ++index) {
        sum[index] += more[index];
    }
}

// The HINCRBYs of one bucket (only the counters that moved).
void append_bucket(std::vector<std::vector<std::string>>& commands, const std::string& key,
                   const StatsCounts& counts) {
    for (std::size_t index = 0; index < counts.size(); ++index) {
        if (counts[index] != 0) {
            commands.push_back({"HINCRBY", key,
                                stats_counter_name(static_cast<StatsCounter>(index)),
                                std::to_string(counts[index])});
        }
    }
}

}  // namespace

Status RedisStats::add_stats(std::span<const StatsDelta> deltas) {
    std::vector<std::vector<std::string>> commands{{"MULTI"}};
    for (const StatsDelta& delta : deltas) {
        std::string base = scope_key(delta.scope);
        const std::pair<std::string, std::uint64_t> grains[] = {{"m", delta.minute},
                                                                {"h", delta.minute / 60}};
        for (const auto& [grain, bucket] : grains) {
            std::string index_key = base;
            index_key.append(":").append(grain);
            std::string key = index_key;
            key.append(":").append(std::to_string(bucket));
            append_bucket(commands, key, delta.counts);
            commands.push_back(
                {"EXPIRE", key, std::to_string(grain == "m" ? minute_expiry_s : hour_expiry_s)});
            commands.push_back({"ZADD", index_key, std::to_string(bucket), std::to_string(bucket)});
        }
        append_bucket(commands, base + ":t", delta.counts);
        commands.push_back({"SADD", scopes_key(delta.scope.kind), delta.scope.name});
    }
    commands.push_back({"EXEC"});
    std::lock_guard lock(mutex_);
    auto replies = connection_.pipeline(commands);
    if (!replies) {
        return replies.error();
    }
    if (replies->back().type != RedisReply::Type::array) {
        return make_error(ErrorCode::internal, Blame::relay,
                          "Redis refused the statistics: " + replies->back().text);
    }
    return {};
}

Result<std::uint64_t> RedisStats::prune_stats(std::uint64_t now_s) {
    std::uint64_t minute_first =
        now_s / 60 > stats_minute_buckets_kept ? now_s / 60 - stats_minute_buckets_kept : 0;
    std::uint64_t hour_first =
        now_s / 3600 > stats_hour_buckets_kept ? now_s / 3600 - stats_hour_buckets_kept : 0;
    std::uint64_t dropped = 0;
    for (StatsScopeKind kind : {StatsScopeKind::resource, StatsScopeKind::domain}) {
        auto names = stats_scopes(kind);
        if (!names) {
            return names.error();
        }
        std::vector<std::vector<std::string>> commands;
        for (const std::string& name : names.value()) {
            std::string base = scope_key({kind, name});
            commands.push_back(
                {"ZREMRANGEBYSCORE", base + ":m", "-inf", "(" + std::to_string(minute_first)});
            commands.push_back(
                {"ZREMRANGEBYSCORE", base + ":h", "-inf", "(" + std::to_string(hour_first)});
        }
        if (commands.empty()) {
            continue;
        }
        std::lock_guard lock(mutex_);
        auto replies = connection_.pipeline(commands);
        if (!replies) {
            return replies.error();
        }
        for (const RedisReply& reply : replies.value()) {
            dropped += static_cast<std::uint64_t>(std::max<std::int64_t>(reply.integer, 0));
        }
    }
    return dropped;
}

Result<std::vector<StatsBucket>> RedisStats::stats_series(const StatsScope& scope,
                                                          std::uint64_t bucket_s,
                                                          std::uint64_t since_s) {
    if (bucket_s != 60 && bucket_s != 3600) {
        return Error{"statistics buckets are 60 or 3600 seconds, not " + std::to_string(bucket_s)};
    }
    std::string base = scope_key(scope) + (bucket_s == 60 ? ":m" : ":h");
    std::lock_guard lock(mutex_);
    auto members =
        connection_.command({"ZRANGEBYSCORE", base, std::to_string(since_s / bucket_s), "+inf"});
    if (!members) {
        return members.error();
    }
    std::vector<std::vector<std::string>> reads;
    for (const RedisReply& member : members->elements) {
        reads.push_back({"HGETALL", base + ":" + member.text});
    }
    std::vector<StatsBucket> buckets;
    if (reads.empty()) {
        return buckets;
    }
    auto rows = connection_.pipeline(reads);
    if (!rows) {
        return rows.error();
    }
    for (std::size_t index = 0; index < rows->size(); ++index) {
        if (rows.value()[index].elements.empty()) {
            continue;  // expired
        }
        StatsBucket bucket;
        bucket.start_s =
            std::strtoull(members->elements[index].text.c_str(), nullptr, 10) * bucket_s;
        bucket.counts = decode_counts(rows.value()[index]);
        buckets.push_back(bucket);
    }
    return buckets;
}

Result<StatsCounts> RedisStats::sum_stats(const StatsScope& scope, std::uint64_t since_s,
                                          std::uint64_t now_s) {
    if (since_s == 0) {
        std::lock_guard lock(mutex_);
        auto total = connection_.command({"HGETALL", scope_key(scope) + ":t"});
        if (!total) {
            return total.error();
        }
        return decode_counts(total.value());
    }
    // As the LMDB store: minute buckets within their 48 hours, else hours.
    bool by_minute = now_s < since_s || now_s - since_s <= stats_minute_buckets_kept * 60;
    auto buckets = stats_series(scope, by_minute ? 60 : 3600, since_s);
    if (!buckets) {
        return buckets.error();
    }
    StatsCounts sum{};
    for (const StatsBucket& bucket : buckets.value()) {
        add_counts(sum, bucket.counts);
    }
    return sum;
}

Result<std::vector<std::string>> RedisStats::stats_scopes(StatsScopeKind kind) {
    std::lock_guard lock(mutex_);
    auto members = connection_.command({"SMEMBERS", scopes_key(kind)});
    if (!members) {
        return members.error();
    }
    std::vector<std::string> names;
    for (const RedisReply& member : members->elements) {
        names.push_back(member.text);
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace relay::store::internal
