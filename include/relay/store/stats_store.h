// stats_store.h -- the statistics behind an interface: counters per resource and per sender
// domain, in per-minute buckets (48 hours), per-hour buckets (90 days) and totals.
//
// Writers add deltas in batches (the stats flusher, stats/recorder.h); readers (relayctl, later
// the admin plane) sum buckets over a period. Buckets past their horizon are dropped by prune(),
// so the size per scope is bounded (2,880 minute and 2,160 hour buckets at most).
//
// The embedded LMDB backend lives in the tenant store's environment (TenantStore::stats()); a
// cluster backend can implement the same interface.
//
// Thread: one call at a time (like TenantStore); every call may block on the disk, so never on
// a worker's loop.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"

namespace relay::store {

// The order is the storage order of a bucket's values: add new counters at the end only.
enum class StatsCounter : std::uint8_t {
    accepted,
    refused_auth,
    refused_allowlist,
    refused_rate_limit,
    refused_stop_list,
    refused_utf8,
    refused_size,
    refused_sender,
    delivered,
    deferred,
    bounced_hard,
    bounced_soft,
    complaints,
    stop_listed,
    reports_unparsed,
    // Bounces by reason (bounce/classify.h's BounceReason, in its order, less complaint,
    // auto_reply and delivered): each bounce counted as bounced_hard or bounced_soft adds one
    // of these too.
    bounce_reason_unknown,
    bounce_reason_no_such_user,
    bounce_reason_mailbox_full,
    bounce_reason_mailbox_disabled,
    bounce_reason_has_moved,
    bounce_reason_host_not_found,
    bounce_reason_no_mail_accepted,
    bounce_reason_relaying_denied,
    bounce_reason_blocked,
    bounce_reason_bad_reputation,
    bounce_reason_require_ptr,
    bounce_reason_authentication,
    bounce_reason_tls_required,
    bounce_reason_policy,
    bounce_reason_filtered,
    bounce_reason_sender_rejected,
    bounce_reason_spam,
    bounce_reason_virus,
    bounce_reason_content_rejected,
    bounce_reason_not_rfc_compliant,
    bounce_reason_message_too_large,
    bounce_reason_exceeds_limit,
    bounce_reason_rate_limited,
    bounce_reason_expired,
    bounce_reason_network_error,
    bounce_reason_system_error,
    bounce_reason_system_full,
    bounce_reason_syntax_error,
};
inline constexpr std::size_t stats_counter_count = 43;
static_assert(static_cast<std::size_t>(StatsCounter::bounce_reason_syntax_error) + 1 ==
              stats_counter_count);

using StatsCounts = std::array<std::uint64_t, stats_counter_count>;

const char* stats_counter_name(StatsCounter counter);
std::optional<StatsCounter> parse_stats_counter(std::string_view name);

// The bounce_reason_* counters: whether `counter` is one, the reason it counts ("no_such_user"),
// and the counter of a reason by its name (nullopt for a name that is no bounce reason).
bool is_bounce_reason(StatsCounter counter);
std::string_view bounce_reason_of(StatsCounter counter);
std::optional<StatsCounter> bounce_reason_counter(std::string_view reason);

inline constexpr std::uint64_t stats_minute_buckets_kept = 48 * 60;
inline constexpr std::uint64_t stats_hour_buckets_kept = 90 * 24;

// "90m", "1h", "24h", "30d" in seconds; nullopt when malformed, zero or over 90 days.
std::optional<std::uint64_t> parse_stats_period(std::string_view text);

enum class StatsScopeKind : std::uint8_t { resource, domain };

// A resource by PROJECT/NAME (empty: what happened before any login, "no resource"), or a
// sender domain.
struct StatsScope {
    StatsScopeKind kind = StatsScopeKind::resource;
    std::string name;
    auto operator<=>(const StatsScope&) const = default;
};

// What happened to one scope within one minute (unix seconds / 60).
struct StatsDelta {
    StatsScope scope;
    std::uint64_t minute = 0;
    StatsCounts counts{};
};

struct StatsBucket {
    std::uint64_t start_s = 0;  // the bucket's first second (unix)
    StatsCounts counts{};
};

class StatsStore {
  public:
    virtual ~StatsStore() = default;

    // Adds every delta to its minute bucket, its hour bucket and its scope's total, all in one
    // transaction (all or nothing).
    virtual Status add_stats(std::span<const StatsDelta> deltas) = 0;
    // Drops minute buckets older than 48 hours and hour buckets older than 90 days at `now_s`.
    // Returns how many buckets it dropped.
    virtual Result<std::uint64_t> prune_stats(std::uint64_t now_s) = 0;
    // The sum over [since_s, now]: minute buckets when since_s is within 48 hours of now_s,
    // else hour buckets (so the period starts at the hour); since_s 0: the scope's total.
    virtual Result<StatsCounts> sum_stats(const StatsScope& scope, std::uint64_t since_s,
                                          std::uint64_t now_s) = 0;
    // The scope's buckets of one grain (60 or 3600 s) from `since_s` on, oldest first.
    virtual Result<std::vector<StatsBucket>> stats_series(const StatsScope& scope,
                                                          std::uint64_t bucket_s,
                                                          std::uint64_t since_s) = 0;
    // The names of every scope of `kind` that has counted something, in key order.
    virtual Result<std::vector<std::string>> stats_scopes(StatsScopeKind kind) = 0;
};

}  // namespace relay::store
