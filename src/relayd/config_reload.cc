// config_reload.cc -- reloading the configuration on SIGHUP.
#include "config_reload.h"

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
    log::info("SIGHUP: configuration reloaded from {}: {} applied", running->file,
              joined(reload.applied));
    // After the line above, so that a quieter level does not hide the news of its own change.
    log::set_level(parse_log_level(next->server.log_level));
    limits.set_maximums(next->limits.connections_max, next->limits.connections_per_client_max);
    for (std::size_t index = 0; index < workers.size(); ++index) {
        RelayWorker* worker = workers[index];
        pool.post(static_cast<int>(index), [worker, next] { worker->reconfigure(next); });
    }
    return next;
}

}  // namespace relay
