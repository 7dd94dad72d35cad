// stats_routes.cc -- statistics over the admin API: the sums `relayctl stats --json` prints, and
// per-minute or per-hour series for charts.
//
//     /stats          GET ?resource=P/N&domain=D&since=1h|24h|30d
//     /stats/series   GET ?resource=P/N|domain=D&grain=minute|hour&since=...
//
// A series is columnar, as chart libraries take it: one array of bucket start times and, per
// counter (less the bounce_reason_* ones), one array of values of the same length, every bucket of
// the period present (zero where nothing was counted), plus `refused`, the sum of the refused_*
// counters. Without a resource or domain it sums every resource. The sums carry `bounce_reasons`,
// the bounces of the period by the classifier's reason (no_such_user, mailbox_full, ...), counted
// ones only.
//
// Bounds: a minute series covers at most the 48 hours the store keeps (2,880 points), an hour
// series 90 days (2,160 points).
//
// Thread: the admin thread(s); blocks on the store.
#include "relay/admin/tenant_view.h"
#include "relay/store/tenant_names.h"
#include "routes.h"

namespace relay::admin::internal {
namespace {

bool is_refusal(store::StatsCounter counter) {
    return std::string_view(store::stats_counter_name(counter)).starts_with("refused_");
}

// The scopes a request names: its resource and/or domain, else every resource counted.
Result<std::vector<store::StatsScope>> scopes_of(Call& call) {
    std::vector<store::StatsScope> scopes;
    if (std::string resource = call.query("resource"); !resource.empty()) {
        if (auto parsed = store::parse_username(resource); !parsed) {
            return parsed.error();
        }
        scopes.push_back({store::StatsScopeKind::resource, resource});
    }
    if (std::string domain = call.query("domain"); !domain.empty()) {
        auto checked = store::check_domain(domain);
        if (!checked) {
            return checked.error();
        }
        scopes.push_back({store::StatsScopeKind::domain, checked.value()});
    }
    if (!scopes.empty()) {
        return scopes;
    }
    auto names = call.store().stats().stats_scopes(store::StatsScopeKind::resource);
    if (!names) {
        return names.error();
    }
    for (std::string& name : names.value()) {
        scopes.push_back({store::StatsScopeKind::resource, std::move(name)});
    }
    return scopes;
}

// `since` as seconds back from now; `fallback_s` when absent (0: since counting began).
Result<std::uint64_t> period_of(Call& call, std::uint64_t fallback_s) {
    std::string since = call.query("since");
    if (since.empty()) {
        return fallback_s;
    }
    auto period = store::parse_stats_period(since);
    if (!period) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "since must be a period such as 90m, 1h, 24h or 30d (at most 90d)");
    }
    return *period;
}

HttpResponse sums(Call& call) {
    auto period_s = period_of(call, 0);
    if (!period_s) {
        return error_response(period_s.error());
    }
    auto scopes = scopes_of(call);
    if (!scopes) {
        return error_response(scopes.error());
    }
    std::uint64_t now_s = call.now_s();
    std::uint64_t since_s = *period_s == 0 ? 0 : now_s - *period_s;
    bool every_resource = call.query("resource").empty() && call.query("domain").empty();
    store::StatsCounts total{};
    json out{{"since", since_s == 0 ? json(nullptr) : json(utc_text(since_s))},
             {"columns", json::array()}};
    for (const store::StatsScope& scope : scopes.value()) {
        auto sum = call.store().stats().sum_stats(scope, since_s, now_s);
        if (!sum) {
            return error_response(sum.error());
        }
        for (std::size_t index = 0; index < store::stats_counter_count; ++index) {
            total[index] += sum.value()[index];
        }
        const char* kind = scope.kind == store::StatsScopeKind::resource ? "resource" : "domain";
        out["columns"].push_back({{kind, scope.name}, {"counts", counts_json(sum.value())}});
    }
    if (every_resource) {
        out["total"] = counts_json(total);
    }
    return json_response(200, out);
}

HttpResponse series(Call& call) {
    std::string grain = call.query("grain").empty() ? "minute" : call.query("grain");
    if (grain != "minute" && grain != "hour") {
        return error_response(400, "grain must be minute or hour");
    }
    std::uint64_t bucket_s = grain == "minute" ? 60 : 3600;
    std::uint64_t kept =
        grain == "minute" ? store::stats_minute_buckets_kept : store::stats_hour_buckets_kept;
    auto period_s = period_of(call, grain == "minute" ? 3600 : 86400);
    if (!period_s) {
        return error_response(period_s.error());
    }
    if (*period_s > kept * bucket_s) {
        return error_response(
            400, "a " + grain + " series covers at most " + (grain == "minute" ? "48h" : "90d"));
    }
    auto scopes = scopes_of(call);
    if (!scopes) {
        return error_response(scopes.error());
    }
    std::uint64_t now_s = call.now_s();
    std::uint64_t first_s = (now_s - *period_s) / bucket_s * bucket_s;
    std::uint64_t points = (now_s / bucket_s * bucket_s - first_s) / bucket_s + 1;
    std::vector<store::StatsCounts> values(points, store::StatsCounts{});
    for (const store::StatsScope& scope : scopes.value()) {
        auto buckets = call.store().stats().stats_series(scope, bucket_s, first_s);
        if (!buckets) {
            return error_response(buckets.error());
        }
        for (const store::StatsBucket& bucket : buckets.value()) {
            std::uint64_t index = (bucket.start_s - first_s) / bucket_s;
            if (bucket.start_s < first_s || index >= points) {
                continue;
            }
            for (std::size_t counter = 0; counter < store::stats_counter_count; ++counter) {
                values[index][counter] += bucket.counts[counter];
            }
        }
    }
    json time = json::array();
    json columns = json::object();
    json refused = json::array();
    for (std::uint64_t index = 0; index < points; ++index) {
        time.push_back(first_s + index * bucket_s);
        std::uint64_t refusals = 0;
        for (std::size_t counter = 0; counter < store::stats_counter_count; ++counter) {
            auto which = static_cast<store::StatsCounter>(counter);
            if (store::is_bounce_reason(which)) {
                continue;  // the sums carry them; a chart of 28 reasons would read as noise
            }
            columns[store::stats_counter_name(which)].push_back(values[index][counter]);
            refusals += is_refusal(which) ? values[index][counter] : 0;
        }
        refused.push_back(refusals);
    }
    columns["refused"] = std::move(refused);
    json scope_names = json::array();
    for (const store::StatsScope& scope : scopes.value()) {
        scope_names.push_back(
            {{scope.kind == store::StatsScopeKind::resource ? "resource" : "domain", scope.name}});
    }
    return json_response(200, {{"grain_s", bucket_s},
                               {"since", utc_text(first_s)},
                               {"scopes", scope_names},
                               {"time", time},
                               {"series", columns}});
}

}  // namespace

HttpResponse stats_routes(Call& call) {
    if (call.method() != "GET") {
        return method_not_allowed("GET");
    }
    if (call.segments.size() == 1) {
        return sums(call);
    }
    if (call.segments.size() == 2 && call.segments[1] == "series") {
        return series(call);
    }
    return error_response(404, "no such path");
}

}  // namespace relay::admin::internal
