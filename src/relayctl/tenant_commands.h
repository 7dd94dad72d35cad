// tenant_commands.h -- `relayctl project|resource|domain ...`: the tenants in the store.
//
// Every command opens the tenant store (LMDB) named by the configuration, directly, whether
// relayd runs or not; a running relayd picks the change up within store.refresh_interval_ms.
// `resource add` and `resource passwd` print the generated password once; the store keeps only
// its Argon2id hash.
//
// Thread: relayctl's only thread. Blocking is fine here.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "relay/config/config.h"

namespace relay::ctl {

struct TenantArguments {
    std::string name;    // project NAME, resource P/N, or list's PROJECT filter
    std::string domain;  // domain add|remove
    std::uint32_t resources_max = 0;
    std::uint32_t domains_max = 0;
    std::vector<std::string> networks;  // project set-networks
    bool json = false;
    std::string stop_policy;  // resource set-policy
    // resource set-limit; wide, so that an out-of-range value gets the store's one-line error
    std::int64_t rate_messages = 0;
    std::int64_t rate_window_s = 0;
    std::string return_path;  // resource set-return-path ADDR
    bool clear = false;       // resource set-return-path --clear
};

struct TenantCommands {
    CLI::App* project = nullptr;
    CLI::App* resource = nullptr;
    CLI::App* domain = nullptr;
};

TenantCommands add_tenant_commands(CLI::App& app, TenantArguments& arguments);
// Runs the parsed command, or returns nullopt if none of the tenant commands was given.
std::optional<int> run_tenant_command(const config::Config& config, const TenantCommands& commands,
                                      const TenantArguments& arguments);

}  // namespace relay::ctl
