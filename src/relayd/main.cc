// relayd -- the relay daemon: accepts mail over SMTP, spools it durably, delivers it.
//
// SYNOPSIS
//     relayd --config FILE [--check-config]
//     relayd --version
//
// DESCRIPTION
//     Loads the configuration, binds one listening socket per listener and worker, becomes
//     server.user when started as root, recovers the spool, starts one worker thread per core
//     (each with its own io_uring, listeners and share of the spool), and runs until SIGTERM or
//     SIGINT.
//     On those signals it stops accepting, lets sessions that are receiving a message finish
//     (up to server.shutdown_grace_s), flushes the spool and exits 0. Under systemd
//     (Type=notify) it reports READY=1 once the workers serve and STOPPING=1 on the way out.
//
//     SIGHUP loads the configuration file again: limits, timeouts, the log level and the retry
//     policy apply to new sessions and delivery attempts; a key that needs a restart is logged
//     and keeps its value; a file with errors is logged and changes nothing.
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
//     Root is used only to read the configuration and bind the listeners (privileges.h).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "config_reload.h"
#include "control_server.h"
#include "privileges.h"
#include "relay/admin/server.h"
#include "relay/base/ascii.h"
#include "relay/base/command_line.h"
#include "relay/base/log.h"
#include "relay/config/config.h"
#include "relay/delivery/destination_budget.h"
#include "relay/engine/tcp_listener.h"
#include "relay/engine/worker_pool.h"
#include "relay/ingress/connection_limits.h"
#include "relay/smtp/address.h"
#include "relay/spool/spool_folder.h"
#include "relay/stats/flusher.h"
#include "relay/tls/context.h"
#include "relay/tls/server_context.h"
#include "relay_worker.h"
#include "service_notify.h"
#include "tenants.h"

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
    selector.domain = ascii_lower(in.value("domain", ""));
    selector.all = in.value("all", false);
    selector.resource = in.value("resource", "");
    if (!selector.id && selector.domain.empty() && selector.resource.empty() && !selector.all) {
        return failure("name a queue id, a domain, a resource or all");
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

// The bounce processor runs when a listener takes bounces (docs/bounces.md); it counts on the
// statistics table after the workers' ones.
Status start_bounce_processor(const config::Config& config, Tenants& tenants, int workers) {
    bool listening = std::any_of(config.listeners.begin(), config.listeners.end(),
                                 [](const config::Listener& listener) {
                                     return listener.role == config::ListenerRole::bounce;
                                 });
    if (!listening) {
        return {};
    }
    feedback::ProcessorOptions options;
    options.bounces = config.bounces;
    options.return_path = config.return_path;
    options.unparsed_folder = config.spool.path + "/bounces-unparsed";
    auto processor = feedback::Processor::start(*tenants.store, *tenants.snapshots,
                                                tenants.stats->worker(workers), std::move(options));
    if (!processor) {
        return processor.error();
    }
    tenants.bounces = std::move(processor.value());
    tenants.bounce_limits = std::make_unique<ingress::ConnectionLimits>(
        config.bounces.connections_max, config.bounces.connections_per_client_max);
    return {};
}

int run(const std::shared_ptr<const config::Config>& initial) {
    const config::Config& config = *initial;  // the keys that need a restart never change
    std::shared_ptr<const config::Config> running = initial;
    log::set_level(parse_log_level(config.server.log_level));
    int workers =
        config.server.workers > 0 ? config.server.workers : engine::WorkerPool::default_count();
    workers = std::min(workers, 1 << spool::QueueIdGenerator::worker_bits);

    if (Status tls = tls::initialize(); !tls) {
        std::fprintf(stderr, "relayd: %s\n", tls.error().message.c_str());
        return 1;
    }
    // Read before the privilege drop: key files are often readable by root only.
    auto server_tls = load_server_tls(config);
    if (!server_tls) {
        std::fprintf(stderr, "relayd: %s\n", server_tls.error().message.c_str());
        return 1;
    }
    auto identity = plan_identity(config.server, geteuid());
    if (!identity) {
        std::fprintf(stderr, "relayd: %s\n", identity.error().message.c_str());
        return 1;
    }
    // A read-only probe of the lock, so that a second relayd names the spool rather than a port.
    if (spool::SpoolFolder::in_use(config.spool.path)) {
        std::fprintf(stderr, "relayd: spool %s is in use by another relayd\n",
                     config.spool.path.c_str());
        return 1;
    }
    for (const config::Listener& listener : config.listeners) {
        if (Status free = engine::TcpListener::check_available(listener.address); !free) {
            std::fprintf(stderr, "relayd: %s\n", free.error().message.c_str());
            return 1;
        }
    }
    auto sockets = RelayWorker::bind_listeners(config, workers);
    if (!sockets) {
        std::fprintf(stderr, "relayd: %s\n", sockets.error().message.c_str());
        return 1;
    }
    // The admin plane's sockets and certificate, before the drop as the listeners'.
    std::unique_ptr<admin::AdminServer> admin_server;
    if (config.admin.enabled) {
        auto bound = admin::AdminServer::bind(config.admin);
        if (!bound) {
            std::fprintf(stderr, "relayd: %s\n", bound.error().message.c_str());
            return 1;
        }
        admin_server = std::move(bound.value());
    }
    if (Status dropped = become(identity.value(), {config.spool.path, config.store.path});
        !dropped) {
        std::fprintf(stderr, "relayd: %s\n", dropped.error().message.c_str());
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
    // After the mask: the store's threads inherit it (a SIGTERM taken by one of them would end
    // relayd at once), and after the drop: they run as server.user.
    auto tenants = start_tenants(config);
    if (!tenants) {
        std::fprintf(stderr, "relayd: %s\n", tenants.error().message.c_str());
        return 1;
    }

    // Statistics: counted on the workers, written by the flusher thread every 2 s and once more
    // after the workers have stopped (docs/statistics.md).
    // One table per worker, and one more (index `workers`) for the bounce processor's thread,
    // which counts complaints and stop-listed recipients.
    tenants.value()->stats = std::make_unique<stats::Recorder>(workers + 1);
    tenants.value()->delivery_latency = std::make_unique<stats::DeliveryLatency>(workers);
    tenants.value()->tls_versions = std::make_unique<stats::TlsVersions>(workers);
    auto stats_flusher =
        std::make_unique<stats::Flusher>(*tenants.value()->stats, tenants.value()->store->stats());
    stats_flusher->start();
    if (Status started = start_bounce_processor(config, *tenants.value(), workers); !started) {
        std::fprintf(stderr, "relayd: %s\n", started.error().message.c_str());
        return 1;
    }
    // MTA-STS: fetched on the policy service's thread, kept in the spool folder with the TLS
    // report counts (docs/delivery.md, "Outbound TLS policy").
    sts::ServiceOptions sts_options;
    sts_options.state_folder = config.spool.path;
    sts_options.ca_file = config.delivery.ca_file;
    sts_options.https_port = config.delivery.mta_sts_port;
    sts_options.fetch_timeout_s = config.delivery.mta_sts_fetch_timeout_s;
    sts_options.policies_max = config.delivery.mta_sts_policies_max;
    sts_options.refresh_interval_s = config.delivery.mta_sts_refresh_interval_s;
    sts_options.report_shards = static_cast<std::size_t>(workers);
    auto sts_service = sts::PolicyService::start(sts_options);
    if (!sts_service) {
        std::fprintf(stderr, "relayd: %s\n", sts_service.error().message.c_str());
        return 1;
    }
    tenants.value()->mta_sts = std::move(sts_service.value());

    ingress::ConnectionLimits limits(config.limits.connections_max,
                                     config.limits.connections_per_client_max);
    limits.limit_client_rate(config.limits.connections_per_client_per_minute);
    // One destination's connections and message rate, counted over all workers.
    delivery::DestinationBudget destination_budget;
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
                       auto worker = RelayWorker::start(
                           reactor, running, *folder.value(), limits, destination_budget, workers,
                           tenants.value().get(), sockets.value(), server_context);
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
    if (admin_server) {
        admin_server->serve(admin::Backend{
            &config,
            tenants.value()->store.get(),
            [&](const std::string& request) { return handle_control(request, pool, registry); },
            tenants.value()->delivery_latency.get(),
            tenants.value()->tls_versions.get(),
            {}});
    }
    log::info("relayd started: {} workers, listening on {}, {} messages in the queue", workers,
              addresses, folder.value()->recovered_messages());
    notify_service_manager("READY=1");

    for (;;) {
        int received = 0;
        if (sigwait(&signals, &received) != 0) {
            continue;
        }
        if (received == SIGHUP) {
            running = reload_config(running, pool, registry, limits);
            if (server_tls.value()) {
                // The files are read again whatever the configuration says: a renewed
                // certificate changes them, not the file. New handshakes present it.
                if (Status reloaded = server_tls.value()->reload(); reloaded) {
                    log::info("SIGHUP: TLS certificate reloaded from {}",
                              config.tls.certificate_chain_file);
                } else {
                    log::error("SIGHUP: TLS certificate not reloaded, the current one stays: {}",
                               reloaded.error().message);
                }
            }
            continue;
        }
        log::info("signal {}: stopping", received);
        break;
    }
    notify_service_manager("STOPPING=1");
    if (control) {
        control.value().reset();  // no queue operations while stopping
    }
    admin_server.reset();
    for (int index = 0; index < workers; ++index) {
        RelayWorker* worker = registry[static_cast<std::size_t>(index)];
        pool.post(index, [worker] { worker->shutdown(); });
    }
    pool.join();
    if (tenants.value()->bounces) {
        tenants.value()->bounces->stop();  // before the flush: its last counts go in it
    }
    stats_flusher->stop();             // the workers are gone: this flush holds their last counts
    tenants.value()->mta_sts->stop();  // and this one their TLS report counts
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
        // Only whether the names exist: the check may run as any user.
        if (auto identity = relay::plan_identity(config->server, 0); !identity) {
            std::fprintf(stderr, "%s: %s\n", config->file.c_str(),
                         identity.error().message.c_str());
            return 1;
        }
        std::printf("%s: ok (%zu listeners, spool %s)\n", config->file.c_str(),
                    config->listeners.size(), config->spool.path.c_str());
        return 0;
    }
    return run(std::make_shared<const relay::config::Config>(std::move(config.value())));
}
