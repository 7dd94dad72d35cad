// stats_commands.h -- `relayctl stats [--resource P/N] [--domain D] [--since 1h|24h|30d]`: the
// counters of the statistics store as a table (rows: counters; columns: resources or the
// domain asked for) or as JSON.
//
// Reads the store named by the configuration directly, whether relayd runs or not; relayd
// writes its counts every 2 s (docs/statistics.md).
//
// Thread: relayctl's only thread. Blocking is fine here.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "relay/config/config.h"

namespace relay::ctl {

struct StatsArguments {
    std::string resource;  // --resource P/N
    std::string domain;    // --domain D
    std::string since;     // --since N[mhd]; empty: since the counting began
    bool json = false;
};

CLI::App* add_stats_command(CLI::App& app, StatsArguments& arguments);
// Runs `stats` if it was given, else returns nullopt.
std::optional<int> run_stats_command(const config::Config& config, const CLI::App& command,
                                     const StatsArguments& arguments);

}  // namespace relay::ctl
