// queue_commands.h -- `relayctl queue ...`: listing and inspecting the spool (read directly),
// and retry/delete/bounce (asked of the running relayd through its control socket).
//
// Thread: relayctl's only thread. Blocking reads of the spool files are fine here.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "relay/config/config.h"

namespace relay::ctl {

struct QueueArguments {
    std::string id;
    std::string domain;
    std::string resource;  // list: only messages this resource (PROJECT/NAME) sent
    bool all = false;
    bool json = false;
    bool data = false;  // show: print the stored message bytes only
};

CLI::App* add_queue_commands(CLI::App& app, QueueArguments& arguments);
int run_queue_command(const config::Config& config, const CLI::App& queue,
                      const QueueArguments& arguments);

}  // namespace relay::ctl
