// relayctl -- the operator's command line for relayd.
//
// SYNOPSIS
//     relayctl --config FILE queue list [--domain D] [--json]
//     relayctl --config FILE queue show ID [--json]
//     relayctl --config FILE project add|list|remove|set-quota ... [--json]
//     relayctl --config FILE resource add|list|remove|passwd ... [--json]
//     relayctl --config FILE domain add|list|remove ... [--json]
//     relayctl --config FILE stoplist add|remove|list|check|import|export ... [--json]
//     relayctl --config FILE dkim generate|import|list|remove ... [--json]
//     relayctl --config FILE stats [--resource P/N] [--domain D] [--since 1h|24h|30d] [--json]
//     relayctl --config FILE admin-token add NAME | list | remove NAME [--json]
//     relayctl --config FILE tls-report [--domain D] [--day YYYY-MM-DD] [--json]
//
// DESCRIPTION
//     Uses the same configuration file as relayd. The queue verbs read the spool directly,
//     read-only, whether relayd runs or not: a record relayd is writing at that moment reads as
//     a torn tail and is skipped. docs/relayctl.md describes every command and its output.
//
// DIAGNOSTICS
//     Exit status 0 on success, 1 on a user error (one line naming what is wrong), 2 on a usage
//     error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "dkim_commands.h"
#include "queue_commands.h"
#include "relay/base/command_line.h"
#include "relay/config/config.h"
#include "stats_commands.h"
#include "stop_list_commands.h"
#include "tenant_commands.h"
#include "tls_report_commands.h"
#include "token_commands.h"

int main(int argc, char** argv) {
    CLI::App app{"relayctl: manage relayd"};
    app.require_subcommand(1);
    std::string config_path;
    bool json = false;
    app.add_option("--config", config_path, "relayd's configuration file")->required();
    app.add_flag("--json", json, "machine-readable output");
    app.set_version_flag("--version", "relayctl " RELAY_VERSION, "print the version and exit");

    relay::ctl::QueueArguments queue_arguments;
    CLI::App* queue = relay::ctl::add_queue_commands(app, queue_arguments);
    relay::ctl::TenantArguments tenant_arguments;
    relay::ctl::TenantCommands tenants = relay::ctl::add_tenant_commands(app, tenant_arguments);
    relay::ctl::StopListArguments stop_list_arguments;
    CLI::App* stop_list = relay::ctl::add_stop_list_commands(app, stop_list_arguments);
    relay::ctl::DkimArguments dkim_arguments;
    CLI::App* dkim = relay::ctl::add_dkim_commands(app, dkim_arguments);
    relay::ctl::StatsArguments stats_arguments;
    CLI::App* stats = relay::ctl::add_stats_command(app, stats_arguments);
    relay::ctl::TokenArguments token_arguments;
    CLI::App* token = relay::ctl::add_token_commands(app, token_arguments);
    relay::ctl::TlsReportArguments tls_report_arguments;
    CLI::App* tls_report = relay::ctl::add_tls_report_command(app, tls_report_arguments);

    if (auto status = relay::parse_command_line(app, argc, argv)) {
        return *status;
    }
    auto config = relay::config::load(config_path);
    if (!config) {
        std::fprintf(stderr, "relayctl: %s\n", config.error().message.c_str());
        return 1;
    }
    if (queue->parsed()) {
        queue_arguments.json = queue_arguments.json || json;
        return relay::ctl::run_queue_command(config.value(), *queue, queue_arguments);
    }
    stop_list_arguments.json = stop_list_arguments.json || json;
    if (auto status =
            relay::ctl::run_stop_list_command(config.value(), *stop_list, stop_list_arguments)) {
        return *status;
    }
    dkim_arguments.json = dkim_arguments.json || json;
    if (auto status = relay::ctl::run_dkim_command(config.value(), *dkim, dkim_arguments)) {
        return *status;
    }
    stats_arguments.json = stats_arguments.json || json;
    if (auto status = relay::ctl::run_stats_command(config.value(), *stats, stats_arguments)) {
        return *status;
    }
    token_arguments.json = token_arguments.json || json;
    if (auto status = relay::ctl::run_token_command(config.value(), *token, token_arguments)) {
        return *status;
    }
    tls_report_arguments.json = tls_report_arguments.json || json;
    if (auto status =
            relay::ctl::run_tls_report_command(config.value(), *tls_report, tls_report_arguments)) {
        return *status;
    }
    tenant_arguments.json = tenant_arguments.json || json;
    if (auto status = relay::ctl::run_tenant_command(config.value(), tenants, tenant_arguments)) {
        return *status;
    }
    return 2;
}
