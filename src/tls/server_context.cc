// server_context.cc -- loading the server Context and swapping in a reloaded one.
//
// Untrusted bytes: none. Threads: load() and reload() on the main thread (they read files);
// current() on the workers. Never: publish a Context that failed to load.
#include "relay/tls/server_context.h"

namespace relay::tls {
namespace {

Result<std::shared_ptr<const Context>> make_context(const ServerConfig& config) {
    auto context = Context::server(config);
    if (!context) {
        return context.error();
    }
    return std::shared_ptr<const Context>(std::make_shared<Context>(std::move(context.value())));
}

}  // namespace

ServerContextSlot::ServerContextSlot(const ServerConfig& config,
                                     std::shared_ptr<const Context> context)
    : config_(config), current_(std::move(context)) {}

Result<std::unique_ptr<ServerContextSlot>> ServerContextSlot::load(const ServerConfig& config) {
    auto context = make_context(config);
    if (!context) {
        return context.error();
    }
    return std::unique_ptr<ServerContextSlot>(
        new ServerContextSlot(config, std::move(context.value())));
}

Status ServerContextSlot::reload() {
    auto context = make_context(config_);
    if (!context) {
        return context.error();
    }
    // The old Context lives on in the sessions made from it and goes with the last of them.
    current_.store(std::move(context.value()));
    generation_.fetch_add(1);
    return {};
}

}  // namespace relay::tls
