// stats_commands.cc -- relayctl stats: sums from the statistics store, printed as a table or
// JSON (docs/relayctl.md shows both).
#include "stats_commands.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "output.h"
#include "relay/admin/tenant_view.h"
#include "relay/base/clock.h"
#include "relay/store/open_tenant_store.h"
#include "relay/store/tenant_names.h"

namespace relay::ctl {
namespace {

using nlohmann::json;

std::string time_text(std::uint64_t unix_s) {
    std::time_t time = static_cast<std::time_t>(unix_s);
    std::tm parts{};
    gmtime_r(&time, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

struct Column {
    store::StatsScope scope;
    store::StatsCounts counts{};
};

std::string column_title(const store::StatsScope& scope) {
    if (scope.kind == store::StatsScopeKind::domain) {
        return scope.name;
    }
    return scope.name.empty() ? "(no resource)" : scope.name;
}

// Whether any column counted `counter`: a bounce reason gets a row only then.
bool counted(const std::vector<Column>& columns, std::size_t counter) {
    for (const Column& column : columns) {
        if (column.counts[counter] != 0) {
            return true;
        }
    }
    return false;
}

void print_table(const std::vector<Column>& columns, const std::optional<store::StatsCounts>& total,
                 const std::string& period) {
    std::printf("%s\n", period.c_str());
    std::vector<std::string> titles;
    titles.reserve(columns.size() + 1);
    for (const Column& column : columns) {
        titles.push_back(column_title(column.scope));
    }
    if (total) {
        titles.emplace_back("total");
    }
    std::vector<std::size_t> widths;
    widths.reserve(titles.size());
    for (const std::string& title : titles) {
        widths.push_back(std::max<std::size_t>(title.size(), 8));
    }
    std::printf("%-20s", "counter");
    for (std::size_t index = 0; index < titles.size(); ++index) {
        std::printf("  %*s", static_cast<int>(widths[index]), titles[index].c_str());
    }
    std::printf("\n");
    for (std::size_t counter = 0; counter < store::stats_counter_count; ++counter) {
        auto which = static_cast<store::StatsCounter>(counter);
        if (store::is_bounce_reason(which) && !counted(columns, counter)) {
            continue;
        }
        if (store::is_bounce_reason(which)) {
            std::printf("  %-18s", std::string(store::bounce_reason_of(which)).c_str());
        } else {
            std::printf("%-20s", store::stats_counter_name(which));
        }
        for (std::size_t index = 0; index < columns.size(); ++index) {
            std::printf("  %*llu", static_cast<int>(widths[index]),
                        static_cast<unsigned long long>(columns[index].counts[counter]));
        }
        if (total) {
            std::printf("  %*llu", static_cast<int>(widths.back()),
                        static_cast<unsigned long long>((*total)[counter]));
        }
        std::printf("\n");
    }
}

// The columns asked for: the resource and/or the domain, else every resource counted.
Result<std::vector<store::StatsScope>> scopes_of(store::TenantStore& tenants,
                                                 const StatsArguments& arguments) {
    std::vector<store::StatsScope> scopes;
    if (!arguments.resource.empty()) {
        auto parsed = store::parse_username(arguments.resource);
        if (!parsed) {
            return parsed.error();
        }
        scopes.push_back({store::StatsScopeKind::resource, arguments.resource});
    }
    if (!arguments.domain.empty()) {
        auto domain = store::check_domain(arguments.domain);
        if (!domain) {
            return domain.error();
        }
        scopes.push_back({store::StatsScopeKind::domain, domain.value()});
    }
    if (!scopes.empty()) {
        return scopes;
    }
    auto names = tenants.stats().stats_scopes(store::StatsScopeKind::resource);
    if (!names) {
        return names.error();
    }
    for (std::string& name : names.value()) {
        scopes.push_back({store::StatsScopeKind::resource, std::move(name)});
    }
    return scopes;
}

}  // namespace

CLI::App* add_stats_command(CLI::App& app, StatsArguments& arguments) {
    CLI::App* stats = app.add_subcommand("stats", "counters per resource and sender domain");
    stats->add_option("--resource", arguments.resource, "one resource (PROJECT/NAME)");
    stats->add_option("--domain", arguments.domain, "one sender domain");
    stats->add_option("--since", arguments.since,
                      "the last period only: 90m, 1h, 24h, 30d (at most 90d); default: all");
    stats->add_flag("--json", arguments.json, "machine-readable output");
    return stats;
}

std::optional<int> run_stats_command(const config::Config& config, const CLI::App& command,
                                     const StatsArguments& arguments) {
    if (!command.parsed()) {
        return std::nullopt;
    }
    std::uint64_t now_s = unix_ms_now() / 1000;
    std::uint64_t since_s = 0;
    if (!arguments.since.empty()) {
        auto period = store::parse_stats_period(arguments.since);
        if (!period) {
            return usage("--since: \"" + arguments.since +
                         "\" is not a period such as 90m, 1h, 24h or 30d (at most 90d)");
        }
        since_s = now_s - *period;
    }
    auto tenants = store::open_tenant_store(config);
    if (!tenants) {
        return fail(tenants.error().message);
    }
    auto scopes = scopes_of(*tenants.value(), arguments);
    if (!scopes) {
        return fail(scopes.error().message);
    }
    std::vector<Column> columns;
    std::optional<store::StatsCounts> total;
    if (arguments.resource.empty() && arguments.domain.empty()) {
        total = store::StatsCounts{};
    }
    for (store::StatsScope& scope : scopes.value()) {
        auto sum = tenants.value()->stats().sum_stats(scope, since_s, now_s);
        if (!sum) {
            return fail(sum.error().message);
        }
        for (std::size_t index = 0; total && index < store::stats_counter_count; ++index) {
            (*total)[index] += sum.value()[index];
        }
        columns.push_back(Column{std::move(scope), sum.value()});
    }
    std::string period = since_s == 0
                             ? "since counting began"
                             : "since " + time_text(since_s) + " (" + arguments.since + ")";
    if (!arguments.json) {
        print_table(columns, total, period);
        return 0;
    }
    json out{{"since", since_s == 0 ? json(nullptr) : json(time_text(since_s))},
             {"columns", json::array()}};
    for (const Column& column : columns) {
        const char* kind =
            column.scope.kind == store::StatsScopeKind::resource ? "resource" : "domain";
        out["columns"].push_back(
            {{kind, column.scope.name}, {"counts", admin::counts_json(column.counts)}});
    }
    if (total) {
        out["total"] = admin::counts_json(*total);
    }
    print_json(out);
    return 0;
}

}  // namespace relay::ctl
