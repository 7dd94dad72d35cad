// tls_report_commands.cc -- relayctl tls-report: the TLS report counts as a table or as RFC 8460
// JSON (docs/relayctl.md shows both).
#include "tls_report_commands.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "output.h"
#include "relay/base/clock.h"
#include "relay/base/file.h"
#include "relay/sts/policy_cache.h"
#include "relay/sts/policy_service.h"
#include "relay/sts/tls_report.h"

namespace relay::ctl {
namespace {

using nlohmann::json;

bool valid_day(const std::string& day) {
    if (day.size() != 10 || day[4] != '-' || day[7] != '-') {
        return false;
    }
    for (std::size_t index : {0, 1, 2, 3, 5, 6, 8, 9}) {
        if (day[index] < '0' || day[index] > '9') {
            return false;
        }
    }
    return true;
}

// The counts of one day, policy domain and policy type (a domain may have sessions under
// MTA-STS and, for its hosts with TLSA records, under DANE: one report, two policies).
struct Report {
    std::uint64_t successful = 0;
    std::uint64_t failed = 0;
    // (result type, receiving MX) -> sessions
    std::map<std::pair<std::string, std::string>, std::uint64_t> failures;
};

struct ReportWhere {
    std::string day;
    std::string domain;
    sts::PolicyType type = sts::PolicyType::sts;
    bool operator<(const ReportWhere& other) const {
        return std::tie(day, domain, type) < std::tie(other.day, other.domain, other.type);
    }
};

using Reports = std::map<ReportWhere, Report>;

Reports group(const sts::ReportCounts& counts, const TlsReportArguments& arguments) {
    Reports reports;
    for (const auto& [key, count] : counts) {
        if ((!arguments.domain.empty() && key.policy_domain != arguments.domain) ||
            (!arguments.day.empty() && key.day != arguments.day)) {
            continue;
        }
        Report& report = reports[ReportWhere{key.day, key.policy_domain, key.policy_type}];
        if (!key.result) {
            report.successful += count;
            continue;
        }
        report.failed += count;
        report.failures[{std::string(sts::result_type_name(*key.result)), key.mx_host}] += count;
    }
    return reports;
}

// RFC 8460 §4.4: the policy as published, one string per line ("policy-string"), and the MX
// hosts it covers ("mx-host"): for sts its mx patterns, for tlsa the hosts whose TLSA records
// these are. The lines counted with the sessions come first; for days counted before relayd
// kept them, the MTA-STS policy still cached stands in.
void add_policy(json& policy, const ReportWhere& where, const sts::ReportPolicies& recorded,
                const std::optional<sts::CachedPolicy>& cached) {
    std::vector<std::string> lines;
    std::vector<std::string> hosts;
    for (auto at = recorded.lower_bound(sts::PolicyWhere{where.day, where.domain, where.type, {}});
         at != recorded.end() && at->first.day == where.day &&
         at->first.policy_domain == where.domain && at->first.policy_type == where.type;
         ++at) {
        lines.insert(lines.end(), at->second.begin(), at->second.end());
        if (!at->first.mx_host.empty()) {
            hosts.push_back(at->first.mx_host);
        }
    }
    if (where.type == sts::PolicyType::sts) {
        if (lines.empty() && cached) {
            lines = sts::policy_lines(cached->policy);
        }
        for (const std::string& line : lines) {
            if (line.starts_with("mx: ")) {
                hosts.push_back(line.substr(4));
            }
        }
    }
    policy["policy-string"] = lines;
    policy["mx-host"] = hosts;
}

// One entry of a report's "policies" (RFC 8460 §4.4).
json policy_json(const ReportWhere& where, const Report& report,
                 const sts::ReportPolicies& recorded,
                 const std::optional<sts::CachedPolicy>& cached) {
    json policy = {{"policy-type", sts::policy_type_name(where.type)},
                   {"policy-domain", where.domain}};
    add_policy(policy, where, recorded, cached);
    json details = json::array();
    for (const auto& [what, count] : report.failures) {
        json detail = {{"result-type", what.first}, {"failed-session-count", count}};
        if (!what.second.empty()) {
            detail["receiving-mx-hostname"] = what.second;
        }
        details.push_back(detail);
    }
    return {{"policy", policy},
            {"summary",
             {{"total-successful-session-count", report.successful},
              {"total-failure-session-count", report.failed}}},
            {"failure-details", details}};
}

json report_json(const config::Config& config, const std::string& day, const std::string& domain,
                 json policies) {
    const std::string& hostname = config.server.hostname;
    return {
        {"organization-name", hostname},
        {"date-range",
         {{"start-datetime", day + "T00:00:00Z"}, {"end-datetime", day + "T23:59:59Z"}}},
        {"contact-info", "postmaster@" + hostname},
        {"report-id", day + "_" + domain + "@" + hostname},
        {"policies", std::move(policies)},
    };
}

void print_table(const Reports& reports) {
    if (reports.empty()) {
        std::printf("no TLS sessions counted\n");
        return;
    }
    for (const auto& [where, report] : reports) {
        std::printf("%s %s (%s): %llu successful, %llu failed\n", where.day.c_str(),
                    where.domain.c_str(), std::string(sts::policy_type_name(where.type)).c_str(),
                    static_cast<unsigned long long>(report.successful),
                    static_cast<unsigned long long>(report.failed));
        for (const auto& [what, count] : report.failures) {
            std::printf("  %-26s %-30s %llu\n", what.first.c_str(),
                        what.second.empty() ? "-" : what.second.c_str(),
                        static_cast<unsigned long long>(count));
        }
    }
}

}  // namespace

CLI::App* add_tls_report_command(CLI::App& app, TlsReportArguments& arguments) {
    CLI::App* command =
        app.add_subcommand("tls-report", "outbound TLS sessions per policy domain and day");
    command->add_option("--domain", arguments.domain, "one policy (recipient) domain");
    command->add_option("--day", arguments.day, "one day, YYYY-MM-DD (UTC)");
    command->add_flag("--json", arguments.json, "RFC 8460 reports");
    return command;
}

std::optional<int> run_tls_report_command(const config::Config& config, const CLI::App& command,
                                          const TlsReportArguments& arguments) {
    if (!command.parsed()) {
        return std::nullopt;
    }
    if (!arguments.day.empty() && !valid_day(arguments.day)) {
        return fail("--day must be YYYY-MM-DD (got \"" + arguments.day + "\")");
    }
    sts::ReportCounts counts;
    sts::ReportPolicies recorded;
    const std::string path = config.spool.path + "/tls-report";
    if (auto text = read_file("state file", path, sts::state_file_bytes_max)) {
        auto decoded = sts::decode_counts(*text);
        if (!decoded) {
            return fail(path + ": " + decoded.error().message);
        }
        counts = std::move(decoded.value());
        recorded = std::move(sts::decode_policies(*text).value());
    }
    std::optional<sts::PolicyCache> policies;
    std::uint64_t now_s = unix_ms_now() / 1000;
    if (auto text = read_file("state file", config.spool.path + "/mta-sts-policies",
                              sts::state_file_bytes_max)) {
        if (auto decoded =
                sts::PolicyCache::decode(*text, config.delivery.mta_sts_policies_max, now_s)) {
            policies = std::move(decoded.value());
        }
    }
    Reports reports = group(counts, arguments);
    if (!arguments.json) {
        print_table(reports);
        return 0;
    }
    // One report per day and domain, with a policy per type (the map keeps them together).
    json output = json::array();
    for (auto at = reports.begin(); at != reports.end();) {
        const ReportWhere& first = at->first;
        json entries = json::array();
        for (;
             at != reports.end() && at->first.day == first.day && at->first.domain == first.domain;
             ++at) {
            std::optional<sts::CachedPolicy> cached =
                policies ? policies->find(at->first.domain, now_s) : std::nullopt;
            entries.push_back(policy_json(at->first, at->second, recorded, cached));
        }
        output.push_back(report_json(config, first.day, first.domain, std::move(entries)));
    }
    print_json(output);
    return 0;
}

}  // namespace relay::ctl
