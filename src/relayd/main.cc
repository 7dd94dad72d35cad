// relayd -- the relay daemon: accepts mail over SMTP, spools it durably, delivers it.
//
// SYNOPSIS
//     relayd --config FILE [--check-config]
//     relayd --version
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
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "control_server.h"
#include "relay/base/command_line.h"
#include "relay/base/log.h"
#include "relay/config/config.h"
#include "relay/engine/tcp_listener.h"
#include "relay/engine/worker_pool.h"
#include "relay/ingress/connection_limits.h"
#include "relay/smtp/address.h"
#include "relay/spool/spool_folder.h"
#include "relay/tls/context.h"
#include "relay/tls/server_context.h"
#include "relay_worker.h"

namespace {

using namespace relay;

// The inbound certificate, when a listener speaks TLS; nullptr otherwise. SIGHUP is to call
// reload() on it: new handshakes then present the new certificate, open sessions keep theirs.
Result<std::unique_ptr<tls::ServerContextSlot>> load_server_tls(const config::Config& config) {
    bool needed = false;
    for (const config::Listener& listener : config.listeners) {
        needed = needed || listener.tls != config::ListenerTls::none;
    }
    if (!needed) {
        return std::unique_ptr<tls::ServerContextSlot>();
    }
    tls::ServerConfig server;
    server.certificate_chain_path = config.tls.certificate_chain_file;
    server.private_key_path = config.tls.private_key_file;
    server.version_min = config.tls.version_min == config::TlsVersion::tls1_3
                             ? tls::Version::tls1_3
                             : tls::Version::tls1_2;
    return tls::ServerContextSlot::load(server);
}

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

// One queue operation from relayctl, run on every worker (each owns part of the queue).
std::string handle_control(const std::string& request, engine::WorkerPool& pool,
                           const std::vector<RelayWorker*>& workers) {
    using nlohmann::json;
    auto failure = [](const std::string& message) {
        return json{{"ok", false}, {"error", message}}.dump();
    };
    json in = json::parse(request, nullptr, false);
    if (in.is_discarded() || !in.is_object()) {
        return failure("the request is not a JSON object");
    }
    std::string command = in.value("command", "");
    if (command != "retry" && command != "delete" && command != "bounce") {
        return failure("unknown command \"" + command + "\"");
    }
    delivery::QueueSelector selector;
    if (in.contains("id")) {
        auto id = spool::parse_queue_id(in.value("id", ""));
        if (!id) {
            return failure("not a queue id: " + in.value("id", ""));
        }
        selector.id = *id;
    }
    selector.domain = smtp::ascii_lower(in.value("domain", ""));
    selector.all = in.value("all", false);
    if (!selector.id && selector.domain.empty() && !selector.all) {
        return failure("name a queue id, a domain or all");
    }
    auto total = std::make_shared<std::atomic<std::size_t>>(0);
    auto remaining = std::make_shared<std::atomic<int>>(static_cast<int>(workers.size()));
    auto finished = std::make_shared<std::promise<void>>();
    std::future<void> done = finished->get_future();
    for (std::size_t index = 0; index < workers.size(); ++index) {
        RelayWorker* worker = workers[index];
        pool.post(static_cast<int>(index), [=] {
            delivery::Delivery& delivery = worker->delivery();
            std::size_t touched = command == "retry"    ? delivery.retry_now(selector)
                                  : command == "delete" ? delivery.remove(selector)
                                                        : delivery.bounce(selector);
            *total += touched;
            if (--*remaining == 0) {
                finished->set_value();
            }
        });
    }
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        return failure("the workers did not answer within 10 s");
    }
    return json{{"ok", true}, {"messages", total->load()}}.dump();
}

int run(const config::Config& config) {
    log::set_level(parse_level(config.server.log_level));
    int workers =
        config.server.workers > 0 ? config.server.workers : engine::WorkerPool::default_count();
    workers = std::min(workers, 1 << spool::QueueIdGenerator::worker_bits);

    if (Status tls = tls::initialize(); !tls) {
        std::fprintf(stderr, "relayd: %s\n", tls.error().message.c_str());
        return 1;
    }
    auto server_tls = load_server_tls(config);
    if (!server_tls) {
        std::fprintf(stderr, "relayd: %s\n", server_tls.error().message.c_str());
        return 1;
    }
    auto folder = spool::SpoolFolder::open(config.spool.path, workers);
    if (!folder) {
        std::fprintf(stderr, "relayd: %s\n", folder.error().message.c_str());
        return 1;
    }
    for (const config::Listener& listener : config.listeners) {
        if (Status free = engine::TcpListener::check_available(listener.address); !free) {
            std::fprintf(stderr, "relayd: %s\n", free.error().message.c_str());
            return 1;
        }
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

    // The control socket exists before the first client is accepted, so that whoever sees
    // relayd answer SMTP can also reach it; requests wait until the workers are up.
    engine::WorkerPool pool;
    std::promise<bool> workers_started;
    std::shared_future<bool> workers_ready = workers_started.get_future().share();
    auto control =
        ControlServer::start(config.spool.path + "/control.sock", [&](const std::string& request) {
            if (workers_ready.wait_for(std::chrono::seconds(10)) != std::future_status::ready ||
                !workers_ready.get()) {
                return std::string(R"({"ok": false, "error": "relayd is starting"})");
            }
            return handle_control(request, pool, registry);
        });
    if (!control) {
        log::warning("{}: relayctl cannot change the queue while relayd runs",
                     control.error().message);
    }
    const tls::ServerContextSlot* server_context = server_tls.value().get();
    Status started =
        pool.start(workers, engine::ReactorOptions{},
                   [&](engine::Reactor& reactor) -> Result<std::unique_ptr<engine::WorkerContext>> {
                       auto worker = RelayWorker::start(reactor, config, *folder.value(), limits,
                                                        workers, server_context);
                       if (!worker) {
                           return worker.error();
                       }
                       std::lock_guard lock(registry_mutex);
                       registry[static_cast<std::size_t>(reactor.index())] = worker.value().get();
                       return std::unique_ptr<engine::WorkerContext>(std::move(worker.value()));
                   });
    workers_started.set_value(started.ok());
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
    if (control) {
        control.value().reset();  // no queue operations while stopping
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
    app.set_version_flag("--version", "relayd " RELAY_VERSION, "print the version and exit");
    if (auto status = relay::parse_command_line(app, argc, argv)) {
        return *status;
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
