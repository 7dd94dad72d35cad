// stop_list_commands.h -- `relayctl stoplist add|remove|list|check|import|export`: the global
// stop list and the resources' lists in the store.
//
// Every command opens the store named by the configuration, directly, whether relayd runs or
// not; a running relayd sees an entry from its next RCPT (docs/stop-lists.md). import streams
// its file: rows are parsed one at a time and written in transactions of
// stop_import_batch_rows, bad rows are reported with their line number and skipped.
//
// Thread: relayctl's only thread. Blocking is fine here.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "relay/config/config.h"

namespace relay::ctl {

// Rows per write transaction on import: large enough that a million rows take a few commits.
inline constexpr std::size_t stop_import_batch_rows = 100'000;

struct StopListArguments {
    std::string address;   // add, remove, check
    std::string file;      // import, export ("-": standard output for export)
    std::string resource;  // --resource P/N
    bool global = false;   // --global
    std::string reason = "manual";
    std::string expires;  // a duration, e.g. 30d
    bool json = false;
};

CLI::App* add_stop_list_commands(CLI::App& app, StopListArguments& arguments);
// Runs the parsed stoplist command, or returns nullopt if it was not given.
std::optional<int> run_stop_list_command(const config::Config& config, const CLI::App& noun,
                                         const StopListArguments& arguments);

}  // namespace relay::ctl
