// config_reload.cc -- reloading the configuration on SIGHUP.
#include "config_reload.h"

#include <chrono>
#include <semaphore>

#include "relay/config/reload.h"

namespace relay {
namespace {

std::string joined(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) {
        text += (text.empty() ? "" : ", ") + name;
    }
    return text;
}

// A worker answers its inbox between two turns of its loop, so this is milliseconds; the bound
// keeps a wedged worker from holding the signal loop (and with it SIGTERM).
constexpr std::chrono::seconds worker_wait{5};

// Posts `next` to every worker and waits until each has taken it, so that the log line that
// follows is true: new sessions on any worker see the new values. Returns how many had not
// taken it within `worker_wait`.
std::size_t hand_to_workers(const std::shared_ptr<const config::Config>& next,
                            engine::WorkerPool& pool, const std::vector<RelayWorker*>& workers) {
    // Shared with the posted tasks: one that runs after the wait gave up must not touch a
    // semaphore that is gone.
    auto taken = std::make_shared<std::counting_semaphore<>>(0);
    for (std::size_t index = 0; index < workers.size(); ++index) {
        RelayWorker* worker = workers[index];
        pool.post(static_cast<int>(index), [worker, next, taken] {
            worker->reconfigure(next);
            taken->release();
        });
    }
    auto deadline = std::chrono::steady_clock::now() + worker_wait;
    std::size_t waiting = workers.size();
    while (waiting > 0 && taken->try_acquire_until(deadline)) {
        --waiting;
    }
    return waiting;
}

}  // namespace

log::Level parse_log_level(const std::string& name) {
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

std::shared_ptr<const config::Config> reload_config(
    const std::shared_ptr<const config::Config>& running, engine::WorkerPool& pool,
    const std::vector<RelayWorker*>& workers, ingress::ConnectionLimits& limits) {
    auto loaded = config::load(running->file);
    if (!loaded) {
        // One line per problem, so that each names its key where an operator greps the log.
        const std::string& message = loaded.error().message;
        std::size_t start = 0;
        while (start < message.size()) {
            std::size_t end = std::min(message.find('\n', start), message.size());
            log::error("SIGHUP: configuration not reloaded: {}",
                       message.substr(start, end - start));
            start = end + 1;
        }
        log::error("SIGHUP: the running configuration stays in force");
        return running;
    }
    config::Reload reload = config::prepare_reload(*running, loaded.value());
    for (const std::string& key : reload.restart) {
        log::warning("SIGHUP: {} changed but needs a restart; the running value stays", key);
    }
    if (reload.applied.empty()) {
        log::info("SIGHUP: configuration reloaded from {}: nothing to apply", running->file);
        return running;
    }
    auto next = std::make_shared<const config::Config>(std::move(reload.config));
    limits.set_maximums(next->limits.connections_max, next->limits.connections_per_client_max);
    std::size_t waiting = hand_to_workers(next, pool, workers);
    if (waiting > 0) {
        log::warning(
            "SIGHUP: {} of {} workers have not taken the new configuration after {} s; "
            "they take it when they next run",
            waiting, workers.size(), worker_wait.count());
    }
    log::info("SIGHUP: configuration reloaded from {}: {} applied", running->file,
              joined(reload.applied));
    // After the line above, so that a quieter level does not hide the news of its own change.
    log::set_level(parse_log_level(next->server.log_level));
    return next;
}

}  // namespace relay
