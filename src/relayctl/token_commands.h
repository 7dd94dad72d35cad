// token_commands.h -- `relayctl admin-token add NAME | list | remove NAME` (also spelled
// `relayctl token ...`): the admin API's bearer tokens in the tenant store.
//
// `add` prints the token once; the store keeps its SHA-256 only (admin/token.h). A running
// relayd sees a change at the next request: it reads the tokens for each one.
//
// Thread: relayctl's only thread. Blocking is fine here.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "relay/config/config.h"

namespace relay::ctl {

struct TokenArguments {
    std::string name;
    bool json = false;
};

CLI::App* add_token_commands(CLI::App& app, TokenArguments& arguments);
// Runs the parsed command, or returns nullopt if `admin-token` was not given.
std::optional<int> run_token_command(const config::Config& config, const CLI::App& noun,
                                     const TokenArguments& arguments);

}  // namespace relay::ctl
