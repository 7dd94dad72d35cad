// config_reload.h -- relayd's answer to SIGHUP: load the configuration file again and hand the
// parts that can change to every worker.
//
// A file that does not load keeps the running configuration, and the log says why (each
// problem with its key). Keys that changed but need a restart are logged one by one and keep
// their running value (config/reload.h lists which keys reload). The new snapshot reaches each
// worker as a message through its inbox, and the "applied" line is logged once every worker has
// taken it; sessions and delivery attempts that already run finish with the snapshot they
// started with.
//
// Thread: the main thread (the signal loop).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "relay/base/log.h"
#include "relay/config/config.h"
#include "relay/engine/worker_pool.h"
#include "relay/ingress/connection_limits.h"
#include "relay_worker.h"

namespace relay {

log::Level parse_log_level(const std::string& name);

// Returns the configuration now running: the new one, or `running` when the file is bad.
std::shared_ptr<const config::Config> reload_config(
    const std::shared_ptr<const config::Config>& running, engine::WorkerPool& pool,
    const std::vector<RelayWorker*>& workers, ingress::ConnectionLimits& limits);

}  // namespace relay
