// tls_report_commands.h -- `relayctl tls-report [--domain D] [--day YYYY-MM-DD] [--json]`: the
// outbound TLS session counts per policy domain and day (RFC 8460), as a table or as RFC 8460
// JSON reports (one per day and domain).
//
// Reads <spool>/tls-report and <spool>/mta-sts-policies, which relayd writes every 2 s and at
// stop (docs/delivery.md, "Outbound TLS policy"), whether relayd runs or not. Sending reports
// to the domains' rua addresses is not done (docs/delivery.md says why).
//
// Thread: relayctl's only thread. Blocking is fine here.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "relay/config/config.h"

namespace relay::ctl {

struct TlsReportArguments {
    std::string domain;  // --domain D (a policy domain)
    std::string day;     // --day YYYY-MM-DD (UTC)
    bool json = false;
};

CLI::App* add_tls_report_command(CLI::App& app, TlsReportArguments& arguments);
// Runs `tls-report` if it was given, else returns nullopt.
std::optional<int> run_tls_report_command(const config::Config& config, const CLI::App& command,
                                          const TlsReportArguments& arguments);

}  // namespace relay::ctl
