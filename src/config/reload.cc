// reload.cc -- splitting a newly loaded configuration into what SIGHUP applies and what waits
// for a restart.
#include "relay/config/reload.h"

#include <array>

namespace relay::config {
namespace {

// One key or section: how to take it from the file, and whether the file changes it.
struct Entry {
    const char* name;
    bool reloads;
    void (*take)(Config& to, const Config& from);
    bool (*differs)(const Config& a, const Config& b);
};

template <auto section>
constexpr Entry whole(const char* name, bool reloads) {
    return Entry{name, reloads, [](Config& to, const Config& from) { to.*section = from.*section; },
                 [](const Config& a, const Config& b) { return !(a.*section == b.*section); }};
}

template <auto section, auto key>
constexpr Entry field(const char* name, bool reloads) {
    return Entry{
        name, reloads,
        [](Config& to, const Config& from) { (to.*section).*key = (from.*section).*key; },
        [](const Config& a, const Config& b) { return !((a.*section).*key == (b.*section).*key); }};
}

constexpr bool reloads = true;
constexpr bool restart = false;

// Every part of the configuration, and whether SIGHUP applies it. An entry `reloads` only when
// every reader takes the configuration snapshot afresh for each new session or attempt (ingress
// does for limits and timeouts, delivery for its retry policy). To make a section reloadable,
// add one line, e.g. `whole<&Config::shaping>("shaping", reloads),`; to make one key of a
// section reloadable, switch its `restart` to `reloads`. A part of Config listed nowhere keeps its
// running value on SIGHUP without a word: list every new section here.
constexpr auto entries = std::to_array<Entry>({
    whole<&Config::limits>("limits", reloads),
    whole<&Config::timeouts>("timeouts", reloads),
    // Read into each new session's settings, as the limits are.
    whole<&Config::recommendations>("recommendations", reloads),
    field<&Config::server, &Server::log_level>("server.log_level", reloads),
    field<&Config::delivery, &Delivery::retry_schedule_s>("delivery.retry_schedule_s", reloads),
    field<&Config::delivery, &Delivery::maximum_age_s>("delivery.maximum_age_s", reloads),
    // Delivery reads these afresh for each destination it shapes, plans or sweeps.
    field<&Config::delivery, &Delivery::shaping>("shaping", reloads),
    field<&Config::delivery, &Delivery::connections_per_host_max>(
        "delivery.connections_per_host_max", reloads),
    field<&Config::delivery, &Delivery::messages_per_connection_max>(
        "delivery.messages_per_connection_max", reloads),
    field<&Config::delivery, &Delivery::dns_ttl_s_min>("delivery.dns_ttl_s_min", reloads),
    field<&Config::delivery, &Delivery::dns_ttl_s_max>("delivery.dns_ttl_s_max", reloads),
    field<&Config::delivery, &Delivery::destination_idle_s>("delivery.destination_idle_s", reloads),

    // Sockets, threads and files opened at start.
    field<&Config::server, &Server::hostname>("server.hostname", restart),
    field<&Config::server, &Server::workers>("server.workers", restart),
    field<&Config::server, &Server::shutdown_grace_s>("server.shutdown_grace_s", restart),
    field<&Config::server, &Server::user>("server.user", restart),
    field<&Config::server, &Server::group>("server.group", restart),
    field<&Config::spool, &Spool::path>("spool.path", restart),
    field<&Config::spool, &Spool::segment_bytes_max>("spool.segment_bytes_max", restart),
    field<&Config::spool, &Spool::chunk_bytes>("spool.chunk_bytes", restart),
    field<&Config::spool, &Spool::cache_bytes_max>("spool.cache_bytes_max", restart),
    // Delivery holds these in its connections, resolver and TLS contexts.
    field<&Config::delivery, &Delivery::resolvers>("delivery.resolvers", restart),
    field<&Config::delivery, &Delivery::dns_timeout_ms>("delivery.dns_timeout_ms", restart),
    field<&Config::delivery, &Delivery::port>("delivery.port", restart),
    field<&Config::delivery, &Delivery::tls>("delivery.tls", restart),
    field<&Config::delivery, &Delivery::ca_file>("delivery.ca_file", restart),
    field<&Config::delivery, &Delivery::hosts_per_domain_max>("delivery.hosts_per_domain_max",
                                                              restart),
    field<&Config::delivery, &Delivery::body_piece_bytes>("delivery.body_piece_bytes", restart),
    field<&Config::delivery, &Delivery::connect_timeout_s>("delivery.connect_timeout_s", restart),
    field<&Config::delivery, &Delivery::greeting_timeout_s>("delivery.greeting_timeout_s", restart),
    field<&Config::delivery, &Delivery::command_timeout_s>("delivery.command_timeout_s", restart),
    field<&Config::delivery, &Delivery::data_timeout_s>("delivery.data_timeout_s", restart),
    field<&Config::delivery, &Delivery::block_timeout_s>("delivery.block_timeout_s", restart),
    field<&Config::delivery, &Delivery::final_timeout_s>("delivery.final_timeout_s", restart),
    field<&Config::delivery, &Delivery::tls_plaintext_fallback_s>(
        "delivery.tls_plaintext_fallback_s", restart),
    field<&Config::delivery, &Delivery::routes>("route", restart),
    // Read at each destination lookup; the policy service's settings at start.
    field<&Config::delivery, &Delivery::mta_sts>("delivery.mta_sts", reloads),
    field<&Config::delivery, &Delivery::mta_sts_port>("delivery.mta_sts_port", restart),
    field<&Config::delivery, &Delivery::mta_sts_fetch_timeout_s>("delivery.mta_sts_fetch_timeout_s",
                                                                 restart),
    field<&Config::delivery, &Delivery::mta_sts_policies_max>("delivery.mta_sts_policies_max",
                                                              restart),
    // The tenant store and the hashing pool are opened at start.
    whole<&Config::store>("store", restart),
    whole<&Config::credentials>("credentials", restart),
    // Read once by each worker's delivery at start; a new key file takes a restart too.
    whole<&Config::return_path>("return_path", restart),
    // The certificate files are read again on every SIGHUP (relayd/config_reload.cc), whether or
    // not the file changed: renewing a certificate changes the files, not the configuration.
    field<&Config::tls, &InboundTls::certificate_chain_file>("tls.certificate_chain_file", restart),
    field<&Config::tls, &InboundTls::private_key_file>("tls.private_key_file", restart),
    field<&Config::tls, &InboundTls::version_min>("tls.version_min", restart),
    field<&Config::tls, &InboundTls::handshake_timeout_s>("tls.handshake_timeout_s", reloads),
    // Each message's signing job takes the configuration of its commit; the signing threads and
    // their queue are started once (relayd/tenants.cc).
    field<&Config::dkim, &Dkim::signed_headers>("dkim.signed_headers", reloads),
    field<&Config::dkim, &Dkim::expiration_s>("dkim.expiration_s", reloads),
    field<&Config::dkim, &Dkim::signing_threads>("dkim.signing_threads", restart),
    field<&Config::dkim, &Dkim::signing_queue_max>("dkim.signing_queue_max", restart),
    // The Redis connection and the leases are set up once (relayd/cluster.cc).
    whole<&Config::cluster>("cluster", restart),
    // The bounce processor's thread, index and folder are set up once (feedback/processor.h).
    whole<&Config::bounces>("bounces", restart),
    // The admin thread binds its sockets and loads its certificate at start.
    whole<&Config::admin>("admin", restart),
});

// The balancers' networks reload as the clients do (checked at each accept); the rest of the
// PROXY protocol keys are read by sessions from the listener they were opened with.
void compare_proxy_protocol(const Listener& before, const Listener& after,
                            const std::string& prefix, Reload& reload, std::size_t index) {
    if (before.proxy_protocol != after.proxy_protocol) {
        reload.restart.push_back(prefix + "proxy_protocol");
    }
    if (before.proxy_header_timeout_s != after.proxy_header_timeout_s) {
        reload.restart.push_back(prefix + "proxy_header_timeout_s");
    }
    if (before.proxy_header_bytes_max != after.proxy_header_bytes_max) {
        reload.restart.push_back(prefix + "proxy_header_bytes_max");
    }
    if (before.proxy_from != after.proxy_from) {
        reload.config.listeners[index].proxy_from = after.proxy_from;
        reload.applied.push_back(prefix + "proxy_from");
    }
}

// Listeners are named one key at a time: "listener[1].address". A listener's clients reload:
// ingress checks them at each accept, from the configuration it has at the time.
void compare_listeners(const Config& running, const Config& loaded, Reload& reload) {
    std::vector<std::string>& restart_keys = reload.restart;
    if (running.listeners.size() != loaded.listeners.size()) {
        restart_keys.push_back("listener (" + std::to_string(running.listeners.size()) +
                               " running, " + std::to_string(loaded.listeners.size()) +
                               " in the file)");
    }
    std::size_t common = std::min(running.listeners.size(), loaded.listeners.size());
    for (std::size_t index = 0; index < common; ++index) {
        const Listener& before = running.listeners[index];
        const Listener& after = loaded.listeners[index];
        std::string prefix = "listener[" + std::to_string(index) + "].";
        if (before.name != after.name) {
            restart_keys.push_back(prefix + "name");
        }
        if (!(before.address == after.address)) {
            restart_keys.push_back(prefix + "address");
        }
        if (before.bare_line_endings != after.bare_line_endings) {
            restart_keys.push_back(prefix + "bare_line_endings");
        }
        if (before.tls != after.tls) {
            restart_keys.push_back(prefix + "tls");
        }
        if (before.auth != after.auth) {
            restart_keys.push_back(prefix + "auth");
        }
        if (before.auth_plaintext != after.auth_plaintext) {
            restart_keys.push_back(prefix + "auth_plaintext");
        }
        if (before.role != after.role) {
            restart_keys.push_back(prefix + "role");
        }
        if (before.clients != after.clients) {
            reload.config.listeners[index].clients = after.clients;
            reload.applied.push_back(prefix + "clients");
        }
        compare_proxy_protocol(before, after, prefix, reload, index);
    }
}

}  // namespace

Reload prepare_reload(const Config& running, const Config& loaded) {
    Reload reload{running, {}, {}};
    for (const Entry& entry : entries) {
        if (!entry.differs(running, loaded)) {
            continue;
        }
        if (entry.reloads) {
            entry.take(reload.config, loaded);
            reload.applied.emplace_back(entry.name);
        } else {
            reload.restart.emplace_back(entry.name);
        }
    }
    compare_listeners(running, loaded, reload);
    return reload;
}

}  // namespace relay::config
