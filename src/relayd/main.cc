// relayd -- the relay daemon: accepts mail over SMTP, spools it durably, delivers it.
//
// SYNOPSIS
//     relayd --config FILE [--check-config]
//
// DESCRIPTION
//     Loads the configuration, recovers the spool, starts one worker thread per core (each with
//     its own io_uring, listeners and share of the spool), and runs until SIGTERM or SIGINT.
//     On those signals it stops accepting, lets sessions that are receiving a message finish
//     (up to server.shutdown_grace_s), flushes the spool and exits 0.
//
//     --check-config only loads and validates the configuration, prints what is wrong (one
//     line per problem, naming the key) or a one-line summary, and exits.
//
// DIAGNOSTICS
//     Exit status 0 on success, 1 on an operating error (bad config, spool in use, port taken),
//     2 on a usage error. Problems go to stderr, one line each.
//
// SECURITY
//     Every byte from the network is untrusted; see the file headers of smtp/ and message/.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "relay/base/log.h"
#include "relay/config/config.h"
#include "relay/engine/worker_pool.h"
#include "relay/ingress/connection_limits.h"
#include "relay/spool/spool_folder.h"
#include "relay/tls/context.h"
#include "relay_worker.h"

namespace {

using namespace relay;

log::Level parse_level(const std::string& name) {
    if (name == "debug") {
        return log::Level::debug;
    }
    if (name == "warning") {
        return log::Level::warning;
    }
    if (name == "error") {
        return log::Level::error;
    }
    return log::Level::info;
}

int run(const config::Config& config) {
    log::set_level(parse_level(config.server.log_level));
    int workers = config.server.workers > 0 ? config.server.workers
                                            : engine::WorkerPool::default_count();
    workers = std::min(workers, 1 << spool::QueueIdGenerator::worker_bits);

    if (Status tls = tls::initialize(); !tls) {
        std::fprintf(stderr, "relayd: %s\n", tls.error().message.c_str());
        return 1;
    }
    auto folder = spool::SpoolFolder::open(config.spool.path, workers);
    if (!folder) {
        std::fprintf(stderr, "relayd: %s\n", folder.error().message.c_str());
        return 1;
    }

    // Signals are taken by sigwait on this thread only; workers never see them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    ingress::ConnectionLimits limits(config.limits.connections_max,
                                     config.limits.connections_per_client_max);
    std::mutex registry_mutex;
    std::vector<RelayWorker*> registry(static_cast<std::size_t>(workers), nullptr);

    engine::WorkerPool pool;
    Status started = pool.start(
        workers, engine::ReactorOptions{},
        [&](engine::Reactor& reactor) -> Result<std::unique_ptr<engine::WorkerContext>> {
            auto worker = RelayWorker::start(reactor, config, *folder.value(), limits, workers);
            if (!worker) {
                return worker.error();
            }
            std::lock_guard lock(registry_mutex);
            registry[static_cast<std::size_t>(reactor.index())] = worker.value().get();
            return std::unique_ptr<engine::WorkerContext>(std::move(worker.value()));
        });
    if (!started) {
        std::fprintf(stderr, "relayd: %s\n", started.error().message.c_str());
        return 1;
    }
    std::string addresses;
    for (const config::Listener& listener : config.listeners) {
        addresses += (addresses.empty() ? "" : ", ") + listener.address.to_string();
    }
    log::info("relayd started: {} workers, listening on {}, {} messages in the queue", workers,
              addresses, folder.value()->recovered_messages());

    for (;;) {
        int received = 0;
        if (sigwait(&signals, &received) != 0) {
            continue;
        }
        if (received == SIGHUP) {
            log::info("SIGHUP ignored: restart relayd to apply a new configuration");
            continue;
        }
        log::info("signal {}: stopping", received);
        break;
    }
    for (int index = 0; index < workers; ++index) {
        RelayWorker* worker = registry[static_cast<std::size_t>(index)];
        pool.post(index, [worker] { worker->shutdown(); });
    }
    pool.join();
    log::info("relayd stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"relayd: outbound SMTP relay"};
    std::string config_path;
    bool check_only = false;
    app.add_option("--config", config_path, "configuration file (TOML)")->required();
    app.add_flag("--check-config", check_only, "validate the configuration and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& help) {
        return app.exit(help);
    } catch (const CLI::ParseError& error) {
        app.exit(error);
        return 2;
    }

    auto config = relay::config::load(config_path);
    if (!config) {
        std::fprintf(stderr, "%s\n", config.error().message.c_str());
        return 1;
    }
    if (check_only) {
        std::printf("%s: ok (%zu listeners, spool %s)\n", config->file.c_str(),
                    config->listeners.size(), config->spool.path.c_str());
        return 0;
    }
    return run(config.value());
}
