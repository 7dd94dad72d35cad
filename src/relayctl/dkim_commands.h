// dkim_commands.h -- `relayctl dkim generate|import|list|remove`: the DKIM keys of sender domains.
//
// Keys are kept in the tenant store with their domain (store/tenant_store.h); a running relayd
// picks a change up within store.refresh_interval_ms. `generate` and `list` print the DNS TXT
// record to publish; the private key never leaves the store through these commands.
//
// Untrusted bytes: the PEM file of `import` (loaded with dkim::PrivateKey, refused if it does not
// parse). Thread: relayctl's only thread; blocking is fine here.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "relay/config/config.h"

namespace relay::ctl {

struct DkimArguments {
    std::string domain;
    std::string selector;
    std::string algorithm = "rsa-2048";        // generate: rsa-2048 or ed25519
    std::string canonicalization = "relaxed";  // generate, import: relaxed or simple
    std::string key_path;                      // import
    bool json = false;
};

CLI::App* add_dkim_commands(CLI::App& app, DkimArguments& arguments);
// Runs the parsed `dkim` command, or returns nullopt if it was not given.
std::optional<int> run_dkim_command(const config::Config& config, const CLI::App& dkim,
                                    const DkimArguments& arguments);

}  // namespace relay::ctl
