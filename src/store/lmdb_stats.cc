// lmdb_stats.cc -- statistics buckets as LMDB keys: batched adds, sums over a period, pruning.
//
// A flush adds each delta three times (minute, hour, total) in one write transaction, so a
// reader never sees a minute without its hour. Reads are cursor walks over one key range.
//
// Thread: see lmdb_stats.h. Blocks on the disk; never called on a worker.
#include "lmdb_stats.h"

#include <charconv>
#include <map>

namespace relay::store {

namespace {

constexpr std::string_view counter_names[stats_counter_count] = {
    "accepted",
    "refused_auth",
    "refused_allowlist",
    "refused_rate_limit",
    "refused_stop_list",
    "refused_utf8",
    "refused_size",
    "refused_sender",
    "delivered",
    "deferred",
    "bounced_hard",
    "bounced_soft",
    "complaints",
    "stop_listed",
    "reports_unparsed",
    "bounce_reason_unknown",
    "bounce_reason_no_such_user",
    "bounce_reason_mailbox_full",
    "bounce_reason_mailbox_disabled",
    "bounce_reason_has_moved",
    "bounce_reason_host_not_found",
    "bounce_reason_no_mail_accepted",
    "bounce_reason_relaying_denied",
    "bounce_reason_blocked",
    "bounce_reason_bad_reputation",
    "bounce_reason_require_ptr",
    "bounce_reason_authentication",
    "bounce_reason_tls_required",
    "bounce_reason_policy",
    "bounce_reason_filtered",
    "bounce_reason_sender_rejected",
    "bounce_reason_spam",
    "bounce_reason_virus",
    "bounce_reason_content_rejected",
    "bounce_reason_not_rfc_compliant",
    "bounce_reason_message_too_large",
    "bounce_reason_exceeds_limit",
    "bounce_reason_rate_limited",
    "bounce_reason_expired",
    "bounce_reason_network_error",
    "bounce_reason_system_error",
    "bounce_reason_system_full",
    "bounce_reason_syntax_error",
};

}  // namespace

const char* stats_counter_name(StatsCounter counter) {
    return counter_names[static_cast<std::size_t>(counter)].data();
}

std::optional<StatsCounter> parse_stats_counter(std::string_view name) {
    for (std::size_t index = 0; index < stats_counter_count; ++index) {
        if (counter_names[index] == name) {
            return static_cast<StatsCounter>(index);
        }
    }
    return std::nullopt;
}

constexpr std::string_view bounce_reason_prefix = "bounce_reason_";

bool is_bounce_reason(StatsCounter counter) {
    return counter >= StatsCounter::bounce_reason_unknown;
}

std::string_view bounce_reason_of(StatsCounter counter) {
    std::string_view name = counter_names[static_cast<std::size_t>(counter)];
    return is_bounce_reason(counter) ? name.substr(bounce_reason_prefix.size()) : name;
}

std::optional<StatsCounter> bounce_reason_counter(std::string_view reason) {
    std::string name(bounce_reason_prefix);
    name += reason;
    return parse_stats_counter(name);
}

namespace internal {
namespace {

constexpr char minute_grain = 'm';
constexpr char hour_grain = 'h';
constexpr char total_grain = 't';

std::string scope_prefix(const StatsScope& scope) {
    std::string prefix(1, scope.kind == StatsScopeKind::resource ? 'r' : 'd');
    prefix += scope.name;
    prefix.push_back('\0');
    return prefix;
}

std::string bucket_key(const StatsScope& scope, char grain, std::uint64_t bucket) {
    std::string key = scope_prefix(scope);
    key.push_back(grain);
    for (int shift = 56; shift >= 0; shift -= 8) {
        key.push_back(static_cast<char>((bucket >> shift) & 0xff));
    }
    return key;
}

// The grain and bucket at the end of a key; false for a key of another shape.
bool split_key(std::string_view key, char& grain, std::uint64_t& bucket) {
    if (key.size() < 11 || key[key.size() - 10] != '\0') {
        return false;
    }
    grain = key[key.size() - 9];
    bucket = 0;
    for (std::size_t index = key.size() - 8; index < key.size(); ++index) {
        bucket = (bucket << 8) | static_cast<unsigned char>(key[index]);
    }
    return true;
}

// Trailing zeros are left out (at least one value is written): most records count no bounce
// reason, and decode_counts reads a shorter record with the missing counters at 0, as it reads
// one written before counters were appended.
std::string encode_counts(const StatsCounts& counts) {
    std::size_t written = stats_counter_count;
    while (written > 1 && counts[written - 1] == 0) {
        --written;
    }
    std::string text;
    for (std::size_t index = 0; index < written; ++index) {
        text += (text.empty() ? "" : " ") + std::to_string(counts[index]);
    }
    return text;
}

bool decode_counts(std::string_view text, StatsCounts& counts) {
    counts.fill(0);
    std::size_t index = 0;
    while (!text.empty()) {
        if (index == stats_counter_count) {
            return true;  // written by a later version with more counters
        }
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), counts[index]);
        if (error != std::errc()) {
            return false;
        }
        text.remove_prefix(static_cast<std::size_t>(end - text.data()));
        if (!text.empty()) {
            if (text[0] != ' ') {
                return false;
            }
            text.remove_prefix(1);
        }
        ++index;
    }
    return true;
}

void add_counts(StatsCounts& into, const StatsCounts& counts) {
    for (std::size_t index = 0; index < stats_counter_count; ++index) {
        into[index] += counts[index];
    }
}

Error damaged(const std::string& what) {
    return Error{"the store holds a damaged statistics record (" + what + ")"};
}

}  // namespace

Result<std::unique_ptr<LmdbStats>> LmdbStats::open(MDB_env* env) {
    MDB_txn* raw = nullptr;
    if (int code = mdb_txn_begin(env, nullptr, 0, &raw); code != 0) {
        return lmdb_error("cannot open the store", code);
    }
    Transaction txn(raw);
    MDB_dbi buckets = 0;
    if (int code = mdb_dbi_open(txn.get(), "stats", MDB_CREATE, &buckets); code != 0) {
        return lmdb_error("cannot open the statistics", code);
    }
    if (Status committed = txn.commit(); !committed) {
        return committed.error();
    }
    return std::make_unique<LmdbStats>(env, buckets);
}

Result<Transaction> LmdbStats::begin(bool write) const {
    return begin_transaction(env_, write);
}

Status LmdbStats::add_stats(std::span<const StatsDelta> deltas) {
    // Merged first, so that each key is read and written once per batch.
    std::map<std::string, StatsCounts> merged;
    for (const StatsDelta& delta : deltas) {
        add_counts(merged[bucket_key(delta.scope, minute_grain, delta.minute)], delta.counts);
        add_counts(merged[bucket_key(delta.scope, hour_grain, delta.minute / 60)], delta.counts);
        add_counts(merged[bucket_key(delta.scope, total_grain, 0)], delta.counts);
    }
    if (merged.empty()) {
        return {};
    }
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    for (const auto& [key, counts] : merged) {
        auto existing = txn->find(buckets_, key);
        if (!existing) {
            return existing.error();
        }
        StatsCounts sum{};
        if (existing.value() && !decode_counts(*existing.value(), sum)) {
            sum.fill(0);  // a damaged bucket restarts from this batch rather than block all
        }
        add_counts(sum, counts);
        if (Status put = txn->put(buckets_, key, encode_counts(sum)); !put) {
            return put;
        }
    }
    return txn->commit();
}

Result<std::uint64_t> LmdbStats::prune_stats(std::uint64_t now_s) {
    const std::uint64_t now_minute = now_s / 60;
    const std::uint64_t now_hour = now_s / 3600;
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    MDB_cursor* cursor = nullptr;
    if (int code = mdb_cursor_open(txn->get(), buckets_, &cursor); code != 0) {
        return lmdb_error("cannot read the statistics", code);
    }
    std::uint64_t dropped = 0;
    MDB_val key{};
    MDB_val value{};
    int code = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
    while (code == 0) {
        char grain = 0;
        std::uint64_t bucket = 0;
        bool expired =
            split_key(to_view(key), grain, bucket) &&
            ((grain == minute_grain && bucket + stats_minute_buckets_kept <= now_minute) ||
             (grain == hour_grain && bucket + stats_hour_buckets_kept <= now_hour));
        if (expired) {
            if (int deleted = mdb_cursor_del(cursor, 0); deleted != 0) {
                mdb_cursor_close(cursor);
                return lmdb_error("cannot prune the statistics", deleted);
            }
            ++dropped;
        }
        code = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (code != MDB_NOTFOUND) {
        return lmdb_error("cannot prune the statistics", code);
    }
    if (Status committed = txn->commit(); !committed) {
        return committed.error();
    }
    return dropped;
}

Result<std::vector<StatsBucket>> LmdbStats::stats_series(const StatsScope& scope,
                                                         std::uint64_t bucket_s,
                                                         std::uint64_t since_s) {
    if (bucket_s != 60 && bucket_s != 3600) {
        return Error{"statistics buckets are 60 or 3600 seconds, not " + std::to_string(bucket_s)};
    }
    char grain = bucket_s == 60 ? minute_grain : hour_grain;
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    std::string prefix = scope_prefix(scope) + grain;
    std::string first = bucket_key(scope, grain, since_s / bucket_s);
    std::vector<StatsBucket> buckets;
    bool broken = false;
    MDB_cursor* cursor = nullptr;
    if (int code = mdb_cursor_open(txn->get(), buckets_, &cursor); code != 0) {
        return lmdb_error("cannot read the statistics", code);
    }
    MDB_val key = to_val(first);
    MDB_val value{};
    int code = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (code == 0 && to_view(key).substr(0, prefix.size()) == prefix) {
        char found_grain = 0;
        StatsBucket bucket;
        std::uint64_t index = 0;
        if (!split_key(to_view(key), found_grain, index) ||
            !decode_counts(to_view(value), bucket.counts)) {
            broken = true;
            break;
        }
        bucket.start_s = index * bucket_s;
        buckets.push_back(bucket);
        code = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (broken) {
        return damaged(scope.name);
    }
    if (code != 0 && code != MDB_NOTFOUND) {
        return lmdb_error("cannot read the statistics", code);
    }
    return buckets;
}

Result<StatsCounts> LmdbStats::sum_stats(const StatsScope& scope, std::uint64_t since_s,
                                         std::uint64_t now_s) {
    StatsCounts sum{};
    if (since_s == 0) {
        auto txn = begin(false);
        if (!txn) {
            return txn.error();
        }
        auto total = txn->find(buckets_, bucket_key(scope, total_grain, 0));
        if (!total) {
            return total.error();
        }
        if (total.value() && !decode_counts(*total.value(), sum)) {
            return damaged(scope.name);
        }
        return sum;
    }
    bool by_minute = now_s < since_s || now_s - since_s <= stats_minute_buckets_kept * 60;
    auto buckets = stats_series(scope, by_minute ? 60 : 3600, since_s);
    if (!buckets) {
        return buckets.error();
    }
    for (const StatsBucket& bucket : buckets.value()) {
        add_counts(sum, bucket.counts);
    }
    return sum;
}

Result<std::vector<std::string>> LmdbStats::stats_scopes(StatsScopeKind kind) {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    std::vector<std::string> names;
    std::string prefix(1, kind == StatsScopeKind::resource ? 'r' : 'd');
    Status read = for_each_prefixed(txn.value(), buckets_, prefix,
                                    [&](std::string_view key, std::string_view) {
                                        char grain = 0;
                                        std::uint64_t bucket = 0;
                                        if (split_key(key, grain, bucket) && grain == total_grain) {
                                            names.emplace_back(key.substr(1, key.size() - 11));
                                        }
                                    });
    if (!read) {
        return read.error();
    }
    return names;
}

}  // namespace internal
}  // namespace relay::store
