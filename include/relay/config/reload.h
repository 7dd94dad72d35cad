// reload.h -- what SIGHUP changes: the configuration to run next, built from the running one
// and a newly loaded file.
//
// Sections and keys that parts read afresh for each new session or delivery attempt are taken
// from the file; the others (listeners, spool, workers, host name, ...) keep their running
// value, and each one the file changes is named, so that the operator knows a restart is needed.
// Pure: two Configs in, one Config and a list of keys out.
//
// Thread: the main thread (relayd's signal loop); tests.
#pragma once

#include <string>
#include <vector>

#include "relay/config/config.h"

namespace relay::config {

struct Reload {
    Config config;                     // to run from now on
    std::vector<std::string> applied;  // reloadable keys or sections whose value changed
    std::vector<std::string> restart;  // keys that changed in the file but need a restart
};

Reload prepare_reload(const Config& running, const Config& loaded);

}  // namespace relay::config
