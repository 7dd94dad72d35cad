// config.cc -- reading and validating the TOML configuration.
//
// tomlplusplus throws on syntax errors; this file is the boundary where that becomes a Result.
// All problems found are reported together, one per line, each naming its key and line.
#include "relay/config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "relay/base/ascii.h"
#include "relay/base/file.h"
#include "relay/bounce/verp.h"
#include "toml_parser.h"

namespace relay::config {
namespace {

// Bounds that make a wrong path (a device, a log) an error instead of a read without end.
constexpr std::size_t config_file_bytes_max = 16 << 20;
constexpr std::size_t key_file_bytes_max = 64 << 10;

// Only a TOML integer is an integer. toml++'s value<int64_t>() also converts floats, and
// for one out of int64's range (`5e24`) that conversion is undefined behaviour.
std::optional<std::int64_t> integer_of(const toml::node& node) {
    if (const auto* integer = node.as_integer()) {
        return integer->get();
    }
    return std::nullopt;
}

// One TOML table being read: tracks the keys used so that the rest can be reported unknown.
class Section {
  public:
    Section(const toml::table* table, std::string prefix, std::vector<std::string>& errors,
            const std::string& file)
        : table_(table), prefix_(std::move(prefix)), errors_(errors), file_(file) {}

    // `zero_turns_off`: 0 is also accepted (a limit that can be turned off).
    template <class T>
    void integer(std::string_view key, T& out, std::int64_t min, std::int64_t max,
                 bool zero_turns_off = false) {
        const toml::node* node = find(key);
        if (node == nullptr) {
            return;
        }
        std::optional<std::int64_t> value = integer_of(*node);
        if (!value) {
            fail(node, key, "must be an integer");
        } else if ((*value < min || *value > max) && !(zero_turns_off && *value == 0)) {
            fail(node, key,
                 std::string(zero_turns_off ? "must be 0 (no limit) or " : "must be ") +
                     "between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
                     std::to_string(*value) + ")");
        } else {
            out = static_cast<T>(*value);
        }
    }

    void string(std::string_view key, std::string& out, bool allow_empty = false) {
        const toml::node* node = find(key);
        if (node == nullptr) {
            return;
        }
        if (!node->is_string()) {
            fail(node, key, "must be a string");
            return;
        }
        std::string value = *node->value<std::string>();
        if (value.empty() && !allow_empty) {
            fail(node, key, "must not be empty");
            return;
        }
        out = std::move(value);
    }

    void boolean(std::string_view key, bool& out) {
        const toml::node* node = find(key);
        if (node == nullptr) {
            return;
        }
        if (!node->is_boolean()) {
            fail(node, key, "must be true or false");
            return;
        }
        out = *node->value<bool>();
    }

    template <class E>
    void choice(std::string_view key, E& out,
                std::initializer_list<std::pair<std::string_view, E>> choices) {
        std::string text;
        const toml::node* node = find(key);
        if (node == nullptr) {
            return;
        }
        string(key, text);
        std::string allowed;
        for (const auto& [name, value] : choices) {
            if (name == text) {
                out = value;
                return;
            }
            allowed += allowed.empty() ? "" : ", ";
            allowed += "\"" + std::string(name) + "\"";
        }
        if (node->is_string()) {
            fail(node, key, "must be one of " + allowed + " (got \"" + text + "\")");
        }
    }

    void string_list(std::string_view key, std::vector<std::string>& out) {
        const toml::node* node = find(key);
        if (node == nullptr) {
            return;
        }
        const toml::array* array = node->as_array();
        if (array == nullptr) {
            fail(node, key, "must be an array of strings");
            return;
        }
        out.clear();
        for (const toml::node& item : *array) {
            if (!item.is_string()) {
                fail(&item, key, "must be an array of strings");
                return;
            }
            out.push_back(*item.value<std::string>());
        }
    }

    void integer_list(std::string_view key, std::vector<std::uint32_t>& out, std::int64_t min,
                      std::int64_t max) {
        const toml::node* node = find(key);
        if (node == nullptr) {
            return;
        }
        const toml::array* array = node->as_array();
        if (array == nullptr || array->empty()) {
            fail(node, key, "must be a non-empty array of integers");
            return;
        }
        out.clear();
        for (const toml::node& item : *array) {
            std::optional<std::int64_t> value = integer_of(item);
            if (!value || *value < min || *value > max) {
                fail(&item, key,
                     "must hold integers between " + std::to_string(min) + " and " +
                         std::to_string(max));
                return;
            }
            out.push_back(static_cast<std::uint32_t>(*value));
        }
    }

    // A sub-table; nullptr when absent. Marks the key as known.
    const toml::table* table(std::string_view key) {
        const toml::node* node = find(key);
        if (node == nullptr) {
            return nullptr;
        }
        if (!node->is_table()) {
            fail(node, key, "must be a table ([" + name(key) + "])");
            return nullptr;
        }
        return node->as_table();
    }

    // An array of tables ([[key]]); empty when absent.
    std::vector<const toml::table*> tables(std::string_view key) {
        std::vector<const toml::table*> result;
        const toml::node* node = find(key);
        if (node == nullptr) {
            return result;
        }
        const toml::array* array = node->as_array();
        if (array == nullptr) {
            fail(node, key, "must be an array of tables ([[" + name(key) + "]])");
            return result;
        }
        for (const toml::node& item : *array) {
            if (!item.is_table()) {
                fail(&item, key, "must be an array of tables ([[" + name(key) + "]])");
                return {};
            }
            result.push_back(item.as_table());
        }
        return result;
    }

    // Reports every key of the table that no accessor asked for.
    void finish() {
        if (table_ == nullptr) {
            return;
        }
        for (const auto& [key, node] : *table_) {
            if (!used_.contains(std::string(key.str()))) {
                fail(&node, key.str(), "unknown key");
            }
        }
    }

    void fail(const toml::node* node, std::string_view key, const std::string& message) {
        std::ostringstream line;
        line << file_;
        if (node != nullptr && node->source().begin.line > 0) {
            line << ":" << node->source().begin.line;
        }
        line << ": " << name(key) << ": " << message;
        errors_.push_back(line.str());
    }

    std::string name(std::string_view key) const {
        return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
    }

    std::size_t error_count() const { return errors_.size(); }

    // The node of a key already read, for the line number of a later complaint.
    const toml::node* node(std::string_view key) const {
        return table_ == nullptr ? nullptr : table_->get(key);
    }

  private:
    const toml::node* find(std::string_view key) {
        used_.insert(std::string(key));
        if (table_ == nullptr) {
            return nullptr;
        }
        return table_->get(key);
    }

    const toml::table* table_;
    std::string prefix_;
    std::vector<std::string>& errors_;
    const std::string& file_;
    std::set<std::string> used_;
};

}  // namespace

std::vector<Cidr> loopback_networks() {
    Cidr ipv4;
    ipv4.address[0] = 127;
    ipv4.prefix_bits = 8;
    Cidr ipv6;
    ipv6.ipv6 = true;
    ipv6.address[15] = 1;
    ipv6.prefix_bits = 128;
    return {ipv4, ipv6};
}

namespace {

std::string default_hostname() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
        return "localhost";
    }
    return name;
}

std::string resolve_path(const std::string& base_folder, const std::string& path) {
    std::filesystem::path resolved(path);
    if (resolved.is_relative()) {
        resolved = std::filesystem::path(base_folder) / resolved;
    }
    return resolved.lexically_normal().string();
}

void read_server(Section& root, Config& config, std::vector<std::string>& errors,
                 const std::string& file) {
    Section server(root.table("server"), "server", errors, file);
    config.server.hostname = default_hostname();
    server.string("hostname", config.server.hostname);
    if (server.node("hostname") != nullptr && !is_host_name(config.server.hostname)) {
        server.fail(server.node("hostname"), "hostname",
                    "must be a host name (letters, digits, hyphens, dots; got \"" +
                        config.server.hostname + "\")");
    }
    server.integer("workers", config.server.workers, 0, 256);
    server.choice("log_level", config.server.log_level,
                  {{"debug", std::string("debug")},
                   {"info", std::string("info")},
                   {"warning", std::string("warning")},
                   {"error", std::string("error")}});
    server.integer("shutdown_grace_s", config.server.shutdown_grace_s, 0, 3600);
    server.string("user", config.server.user);
    server.string("group", config.server.group);
    if (!config.server.group.empty() && config.server.user.empty()) {
        server.fail(nullptr, "group",
                    "needs server.user (relayd drops to a user, not a group alone)");
    }
    server.finish();
}

// Two listeners on one address would fail only when relayd binds the second.
void check_unique(Section& section, const toml::table* table, const Config& config,
                  const engine::SocketAddress& address) {
    for (const Listener& earlier : config.listeners) {
        if (earlier.address == address) {
            section.fail(table->get("address"), "address",
                         "is already the address of listener \"" + earlier.name + "\"");
            return;
        }
    }
}

// listener.clients and listener.proxy_from: every entry a network, at least one (a listener
// nobody may use is a mistake). `texts` is what section.string_list read for `key`: the caller
// reads it, so that the key is written where tests/integration/test_docs.py looks for keys.
void read_networks(Section& section, const toml::table* table, std::string_view key,
                   const std::vector<std::string>& texts, std::vector<Cidr>& out) {
    const toml::node* node = table->get(key);
    if (node == nullptr || !node->is_array() || texts.size() != node->as_array()->size()) {
        return;  // absent, or string_list has said what is wrong
    }
    if (texts.empty()) {
        section.fail(node, key, "must list at least one network (\"ADDRESS/BITS\")");
        return;
    }
    std::vector<Cidr> networks;
    for (const std::string& text : texts) {
        auto network = Cidr::parse(text);
        if (!network) {
            section.fail(node, key, network.error().message);
            return;
        }
        networks.push_back(*network);
    }
    out = std::move(networks);
}

// The PROXY protocol keys of a listener: the balancers' networks are required with it (any
// peer could otherwise say which client it is) and meaningless without it.
void read_proxy_protocol(Section& section, const toml::table* table, Listener& listener) {
    section.boolean("proxy_protocol", listener.proxy_protocol);
    std::vector<std::string> balancers;
    section.string_list("proxy_from", balancers);
    read_networks(section, table, "proxy_from", balancers, listener.proxy_from);
    section.integer("proxy_header_timeout_s", listener.proxy_header_timeout_s, 1, 300);
    section.integer("proxy_header_bytes_max", listener.proxy_header_bytes_max, 232, 65551);
    if (listener.proxy_protocol && table->get("proxy_from") == nullptr) {
        section.fail(table, "proxy_from",
                     "is required with proxy_protocol = true (the load balancers' networks)");
    }
    for (std::string_view key :
         {"proxy_from", "proxy_header_timeout_s", "proxy_header_bytes_max"}) {
        if (!listener.proxy_protocol && table->get(key) != nullptr) {
            section.fail(table->get(key), key, "needs proxy_protocol = true");
        }
    }
}

// role = "bounce": the internet's mail servers send there, so no login and no client networks;
// saying otherwise is a mistake worth an error rather than a key silently ignored.
void read_role(Section& section, const toml::table* table, Listener& listener) {
    section.choice("role", listener.role,
                   {{"relay", ListenerRole::relay}, {"bounce", ListenerRole::bounce}});
    if (listener.role != ListenerRole::bounce) {
        return;
    }
    if (listener.auth != ListenerAuth::off) {
        section.fail(table->get("auth"), "auth", "must be \"off\" on a bounce listener");
    }
    if (const toml::node* clients = table->get("clients")) {
        section.fail(clients, "clients",
                     "is not for a bounce listener (it admits every client: bounces come from "
                     "anywhere)");
    }
}

void read_listeners(Section& root, Config& config, std::vector<std::string>& errors,
                    const std::string& file) {
    int index = 0;
    for (const toml::table* table : root.tables("listener")) {
        Section section(table, "listener[" + std::to_string(index++) + "]", errors, file);
        Listener listener;
        listener.name = "smtp";
        section.string("name", listener.name);
        std::string address;
        section.string("address", address);
        if (address.empty()) {
            section.fail(table, "address", "is required (\"IP:PORT\")");
        } else if (auto endpoint = parse_endpoint(address); !endpoint) {
            section.fail(table->get("address"), "address", endpoint.error().message);
        } else if (auto parsed = engine::SocketAddress::parse(address)) {
            listener.address = *parsed;
            check_unique(section, table, config, *parsed);
        } else {
            section.fail(table->get("address"), "address",
                         "must be \"IP:PORT\" or \"[IPv6]:PORT\" (got \"" + address + "\")");
        }
        section.choice("bare_line_endings", listener.bare_line_endings,
                       {{"reject", message::BareLineEndings::reject},
                        {"normalize", message::BareLineEndings::normalize}});
        section.choice("tls", listener.tls,
                       {{"none", ListenerTls::none},
                        {"starttls", ListenerTls::starttls},
                        {"implicit", ListenerTls::implicit}});
        section.choice("auth", listener.auth,
                       {{"required", ListenerAuth::required}, {"off", ListenerAuth::off}});
        section.boolean("auth_plaintext", listener.auth_plaintext);
        read_role(section, table, listener);
        if (listener.auth == ListenerAuth::required && !listener.auth_plaintext &&
            listener.tls == ListenerTls::none) {
            // Nobody could ever log in there.
            section.fail(table->get("auth"), "auth",
                         "\"required\" needs TLS on the listener (tls = \"starttls\" or "
                         "\"implicit\") or auth_plaintext = true");
        }
        if (listener.role == ListenerRole::relay) {
            std::vector<std::string> clients;
            section.string_list("clients", clients);
            read_networks(section, table, "clients", clients, listener.clients);
        }
        read_proxy_protocol(section, table, listener);
        section.finish();
        config.listeners.push_back(std::move(listener));
    }
    if (config.listeners.empty()) {
        root.fail(nullptr, "listener", "at least one [[listener]] is required");
    }
}

// The login throttle's bounds are those its table can represent (policy/login_throttle.h).
void read_auth_limits(Section& limits, Limits& l) {
    limits.integer("auth_failures_before_delay", l.auth_failures_before_delay, 0, 200);
    limits.integer("auth_failure_delay_ms", l.auth_failure_delay_ms, 0, 3600 * 1000);
    limits.integer("auth_failure_delay_ms_max", l.auth_failure_delay_ms_max, 0, 3600 * 1000);
    limits.integer("auth_failures_before_lockout", l.auth_failures_before_lockout, 0, 200);
    limits.integer("auth_failure_window_s", l.auth_failure_window_s, 1, 7 * 86400);
    limits.integer("auth_lockout_s", l.auth_lockout_s, 1, 7 * 86400);
    limits.integer("auth_throttle_slots", l.auth_throttle_slots, 1024, 1 << 20);
    if ((l.auth_throttle_slots & (l.auth_throttle_slots - 1)) != 0) {
        limits.fail(nullptr, "auth_throttle_slots",
                    "must be a power of two (got " + std::to_string(l.auth_throttle_slots) + ")");
    }
}

void read_limits(Section& root, Config& config, std::vector<std::string>& errors,
                 const std::string& file) {
    Section limits(root.table("limits"), "limits", errors, file);
    Limits& l = config.limits;
    limits.integer("command_line_bytes_max", l.command_line_bytes_max, 512, 65536);
    limits.integer("recipients_per_message_max", l.recipients_per_message_max, 1, 100000);
    limits.integer("message_bytes_max", l.message_bytes_max, 0,
                   std::numeric_limits<std::int64_t>::max());
    limits.integer("header_bytes_max", l.header_bytes_max, 1024, 64 << 20);
    // Below 998 would refuse lines RFC 5322 allows.
    limits.integer("message_line_bytes_max", l.message_line_bytes_max, 998, 1 << 20, true);
    limits.integer("errors_per_session_max", l.errors_per_session_max, 1, 1000);
    limits.integer("connections_max", l.connections_max, 1, 1000000);
    limits.integer("connections_per_client_max", l.connections_per_client_max, 1, 1000000);
    limits.integer("pending_input_bytes_max", l.pending_input_bytes_max, 4096, 16 << 20);
    limits.integer("session_output_bytes_max", l.session_output_bytes_max, 4096, 16 << 20);
    limits.integer("session_unwritten_bytes_max", l.session_unwritten_bytes_max, 64 << 10,
                   std::int64_t{1} << 32);
    limits.integer("data_bytes_per_s_min", l.data_bytes_per_s_min, 0, 1 << 30);
    limits.boolean("require_valid_utf8", l.require_valid_utf8);
    limits.boolean("require_utf8_charsets", l.require_utf8_charsets);
    limits.integer("mime_depth_max", l.mime_depth_max, 1, 100);
    read_auth_limits(limits, l);
    // 8 bytes per connection of the minute, for each of 4096 address entries: 32 MB at most.
    limits.integer("connections_per_client_per_minute", l.connections_per_client_per_minute, 0,
                   1000);
    limits.integer("connections_per_resource_max", l.connections_per_resource_max, 0, 1000000);
    limits.finish();
}

void read_recommendations(Section& root, Config& config, std::vector<std::string>& errors,
                          const std::string& file) {
    Section section(root.table("recommendations"), "recommendations", errors, file);
    Recommendations& r = config.recommendations;
    section.integer("recipients_per_message_max", r.recipients_per_message_max, 0, 1000000);
    section.integer("message_bytes_max", r.message_bytes_max, 0,
                    std::numeric_limits<std::int64_t>::max());
    section.finish();
}

void read_timeouts(Section& root, Config& config, std::vector<std::string>& errors,
                   const std::string& file) {
    Section timeouts(root.table("timeouts"), "timeouts", errors, file);
    timeouts.integer("command_s", config.timeouts.command_s, 1, 86400);
    timeouts.integer("data_s", config.timeouts.data_s, 1, 86400);
    timeouts.integer("transaction_s", config.timeouts.transaction_s, 1, 7 * 86400);
    timeouts.integer("data_rate_grace_s", config.timeouts.data_rate_grace_s, 1, 86400);
    timeouts.integer("close_s", config.timeouts.close_s, 1, 3600);
    timeouts.finish();
}

void read_spool(Section& root, Config& config, std::vector<std::string>& errors,
                const std::string& file, const std::string& base_folder) {
    Section spool(root.table("spool"), "spool", errors, file);
    std::string path = "spool";
    spool.string("path", path);
    config.spool.path = resolve_path(base_folder, path);
    spool.integer("segment_bytes_max", config.spool.segment_bytes_max, 1 << 20,
                  std::int64_t{1} << 40);
    spool.integer("chunk_bytes", config.spool.chunk_bytes, 64 << 10, 64 << 20);
    spool.integer("cache_bytes_max", config.spool.cache_bytes_max, 0, std::int64_t{1} << 40);
    spool.finish();
}

void read_store(Section& root, Config& config, std::vector<std::string>& errors,
                const std::string& file, const std::string& base_folder) {
    Section store(root.table("store"), "store", errors, file);
    std::string path;
    store.string("path", path);
    config.store.path =
        path.empty()
            ? resolve_path(std::filesystem::path(config.spool.path).parent_path().string(), "store")
            : resolve_path(base_folder, path);
    store.integer("map_bytes", config.store.map_bytes, 1 << 20, std::int64_t{1} << 40);
    store.integer("refresh_interval_ms", config.store.refresh_interval_ms, 10, 60000);
    store.finish();
    Section credentials(root.table("credentials"), "credentials", errors, file);
    Credentials& c = config.credentials;
    credentials.integer("argon2_memory_kib", c.argon2_memory_kib, 64, 4 << 20);
    credentials.integer("argon2_iterations", c.argon2_iterations, 1, 100);
    credentials.integer("argon2_parallelism", c.argon2_parallelism, 1, 64);
    credentials.integer("hash_threads", c.hash_threads, 1, 256);
    credentials.integer("hash_queue_max", c.hash_queue_max, 1, 1000000);
    credentials.integer("remembered_logins_max", c.remembered_logins_max, 0, 10000000);
    credentials.finish();
}

TlsPolicy read_tls_policy(Section& section, TlsPolicy fallback) {
    TlsPolicy policy = fallback;
    section.choice("tls", policy,
                   {{"none", TlsPolicy::none},
                    {"opportunistic", TlsPolicy::opportunistic},
                    {"required", TlsPolicy::required},
                    {"dane", TlsPolicy::dane},
                    {"mta-sts", TlsPolicy::mta_sts}});
    return policy;
}

void read_routes(Section& root, Config& config, std::vector<std::string>& errors,
                 const std::string& file) {
    int index = 0;
    for (const toml::table* table : root.tables("route")) {
        Section section(table, "route[" + std::to_string(index++) + "]", errors, file);
        Route route;
        section.string("domain", route.domain);
        section.string("host", route.host);
        if (route.domain.empty()) {
            section.fail(table, "domain", "is required (a recipient domain, or \"*\")");
        } else if (route.domain != "*" && !is_domain_name(route.domain)) {
            section.fail(table->get("domain"), "domain",
                         "must be a domain name or \"*\" (got \"" + route.domain + "\")");
        }
        if (route.host.empty()) {
            section.fail(table, "host", "is required (\"HOST:PORT\")");
        } else if (auto endpoint = parse_endpoint(route.host)) {
            route.endpoint = *endpoint;
        } else {
            section.fail(table->get("host"), "host", endpoint.error().message);
        }
        route.tls = read_tls_policy(section, config.delivery.tls);
        if (route.tls == TlsPolicy::mta_sts) {
            // A static route bypasses the domain's MX records, which MTA-STS is about.
            section.fail(table->get("tls"), "tls",
                         "\"mta-sts\" applies to MX delivery, not to a static route (use "
                         "\"required\", or a [[shaping]] rule for the domain)");
        }
        section.string("auth_username", route.auth_username);
        section.string("auth_password", route.auth_password);
        section.finish();
        config.delivery.routes.push_back(std::move(route));
    }
}

void read_shaping(Section& root, Config& config, std::vector<std::string>& errors,
                  const std::string& file) {
    int index = 0;
    for (const toml::table* table : root.tables("shaping")) {
        Section section(table, "shaping[" + std::to_string(index++) + "]", errors, file);
        Shaping rule;
        section.string("domain", rule.domain);
        if (rule.domain.empty()) {
            section.fail(table, "domain", "is required (a recipient domain)");
        }
        rule.domain = ascii_lower(rule.domain);
        section.integer("connections_max", rule.connections_max, 1, 10000);
        section.integer("messages_per_connection_max", rule.messages_per_connection_max, 1,
                        1000000);
        section.integer("messages_per_second", rule.messages_per_second, 0, 100000);
        section.boolean("dane", rule.dane);
        if (table->contains("tls")) {
            rule.tls = read_tls_policy(section, config.delivery.tls);
        }
        if (table->contains("mta_sts")) {
            bool lookups = true;
            section.boolean("mta_sts", lookups);
            rule.mta_sts = lookups;
        }
        section.finish();
        config.delivery.shaping.push_back(std::move(rule));
    }
}

// tls = "dane" anywhere needs [delivery] dane = true: only then is the AD bit of the resolvers'
// answers believed.
void check_dane_policies(Section& delivery, const Config& config) {
    if (config.delivery.dane) {
        return;
    }
    if (config.delivery.tls == TlsPolicy::dane) {
        delivery.fail(delivery.node("tls"), "tls",
                      "\"dane\" needs dane = true (a validating resolver the relay trusts)");
    }
    for (const Route& route : config.delivery.routes) {
        if (route.tls == TlsPolicy::dane && config.delivery.tls != TlsPolicy::dane) {
            delivery.fail(nullptr, "tls",
                          "route to " + route.domain +
                              " has tls = \"dane\", which needs [delivery] dane = true");
        }
    }
    for (const Shaping& rule : config.delivery.shaping) {
        if (rule.tls == TlsPolicy::dane && config.delivery.tls != TlsPolicy::dane) {
            delivery.fail(nullptr, "tls",
                          "shaping rule for " + rule.domain +
                              " has tls = \"dane\", which needs [delivery] dane = true");
        }
    }
}

void read_delivery(Section& root, Config& config, std::vector<std::string>& errors,
                   const std::string& file, const std::string& base_folder) {
    Section delivery(root.table("delivery"), "delivery", errors, file);
    Delivery& d = config.delivery;
    delivery.string_list("resolvers", d.resolvers);
    for (const std::string& resolver : d.resolvers) {
        auto parsed = engine::SocketAddress::parse(resolver);
        if (!parsed || parsed->port() == 0) {
            delivery.fail(delivery.node("resolvers"), "resolvers",
                          "entries must be \"IP:PORT\" with a port from 1 to 65535 (got \"" +
                              resolver + "\")");
        }
    }
    delivery.integer("dns_timeout_ms", d.dns_timeout_ms, 100, 60000);
    delivery.integer("port", d.port, 1, 65535);
    d.tls = read_tls_policy(delivery, d.tls);
    delivery.string("ca_file", d.ca_file);
    d.ca_file = resolve_path(base_folder, d.ca_file);
    delivery.integer_list("retry_schedule_s", d.retry_schedule_s, 1, 7 * 86400);
    delivery.integer("maximum_age_s", d.maximum_age_s, 5, 60 * 86400);
    delivery.integer("connections_per_host_max", d.connections_per_host_max, 1, 10000);
    delivery.integer("messages_per_connection_max", d.messages_per_connection_max, 1, 1000000);
    delivery.integer("hosts_per_domain_max", d.hosts_per_domain_max, 1, 100);
    delivery.integer("body_piece_bytes", d.body_piece_bytes, 4096, 16 << 20);
    delivery.integer("connect_timeout_s", d.connect_timeout_s, 1, 3600);
    delivery.integer("greeting_timeout_s", d.greeting_timeout_s, 1, 3600);
    delivery.integer("command_timeout_s", d.command_timeout_s, 1, 3600);
    delivery.integer("data_timeout_s", d.data_timeout_s, 1, 3600);
    delivery.integer("block_timeout_s", d.block_timeout_s, 1, 3600);
    delivery.integer("final_timeout_s", d.final_timeout_s, 1, 3600);
    delivery.integer("tls_plaintext_fallback_s", d.tls_plaintext_fallback_s, 0, 7 * 86400);
    delivery.integer("dns_ttl_s_min", d.dns_ttl_s_min, 0, 86400);
    delivery.integer("dns_ttl_s_max", d.dns_ttl_s_max, 1, 7 * 86400);
    if (d.dns_ttl_s_min > d.dns_ttl_s_max) {
        delivery.fail(nullptr, "dns_ttl_s_min", "must not exceed dns_ttl_s_max");
    }
    delivery.integer("destination_idle_s", d.destination_idle_s, 1, 86400);
    delivery.boolean("dane", d.dane);
    // MTA-STS (RFC 8461; docs/delivery.md, "Outbound TLS policy").
    delivery.boolean("mta_sts", d.mta_sts);
    delivery.integer("mta_sts_port", d.mta_sts_port, 1, 65535);
    delivery.integer("mta_sts_fetch_timeout_s", d.mta_sts_fetch_timeout_s, 1, 300);
    delivery.integer("mta_sts_policies_max", d.mta_sts_policies_max, 0, 1000000);
    delivery.integer("mta_sts_refresh_interval_s", d.mta_sts_refresh_interval_s, 60, 31557600);
    delivery.finish();
    read_routes(root, config, errors, file);
    read_shaping(root, config, errors, file);
    check_dane_policies(delivery, config);
}

// TOML allows no control character but tab, CR and LF outside escapes. They are refused before
// tomlplusplus sees them: its parser asserts on some (a NUL where a key starts), which in a
// release build is an assumption the compiler may act on, not a check.
Status check_characters(std::string_view text, const std::string& file_name) {
    std::size_t line = 1;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte == '\n') {
            ++line;
        } else if ((byte < 0x20 && byte != '\t' && byte != '\r') || byte == 0x7f) {
            char code[8];
            std::snprintf(code, sizeof code, "0x%02x", byte);
            return Error{file_name + ":" + std::to_string(line) + ": control character " + code +
                         " is not allowed in TOML (write it as an escape in a string)"};
        }
    }
    return {};
}

// [tls]: the inbound certificate. A TLS listener without one is an error here, at load, rather
// than a handshake that cannot succeed.
void read_inbound_tls(Section& root, Config& config, std::vector<std::string>& errors,
                      const std::string& file, const std::string& base_folder) {
    Section tls(root.table("tls"), "tls", errors, file);
    InboundTls& t = config.tls;
    tls.string("certificate_chain_file", t.certificate_chain_file);
    tls.string("private_key_file", t.private_key_file);
    tls.choice("version_min", t.version_min,
               {{"1.2", TlsVersion::tls1_2}, {"1.3", TlsVersion::tls1_3}});
    tls.integer("handshake_timeout_s", t.handshake_timeout_s, 1, 3600);
    tls.finish();
    if (!t.certificate_chain_file.empty()) {
        t.certificate_chain_file = resolve_path(base_folder, t.certificate_chain_file);
    }
    if (!t.private_key_file.empty()) {
        t.private_key_file = resolve_path(base_folder, t.private_key_file);
    }
    bool complete = !t.certificate_chain_file.empty() && !t.private_key_file.empty();
    for (std::size_t index = 0; index < config.listeners.size(); ++index) {
        if (config.listeners[index].tls != ListenerTls::none && !complete) {
            Section listener(nullptr, "listener[" + std::to_string(index) + "]", errors, file);
            listener.fail(nullptr, "tls",
                          "TLS needs [tls] certificate_chain_file and private_key_file");
        }
    }
}

// [return_path]: the key is hex, inline (`key`) or in a file (`key_file`, read here so that
// --check-config sees a missing or short key); hex survives copying and TOML quoting alike.
std::optional<std::string> hex_bytes(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    if (text.size() % 2 != 0) {
        return std::nullopt;
    }
    std::string bytes;
    for (std::size_t index = 0; index < text.size(); index += 2) {
        unsigned value = 0;
        for (char c : text.substr(index, 2)) {
            int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                        : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                                    : -1;
            if (digit < 0) {
                return std::nullopt;
            }
            value = value * 16 + static_cast<unsigned>(digit);
        }
        bytes.push_back(static_cast<char>(value));
    }
    return bytes;
}

void read_return_path(Section& root, Config& config, std::vector<std::string>& errors,
                      const std::string& file, const std::string& base_folder) {
    Section section(root.table("return_path"), "return_path", errors, file);
    ReturnPath& r = config.return_path;
    section.string("bounce_domain", r.bounce_domain);
    std::string key_text;
    section.string("key", key_text);
    section.string("key_file", r.key_file);
    section.finish();
    r.bounce_domain = ascii_lower(r.bounce_domain);
    if (!r.bounce_domain.empty() && !is_host_name(r.bounce_domain)) {
        section.fail(section.node("bounce_domain"), "bounce_domain",
                     "must be a domain name (got \"" + r.bounce_domain + "\")");
    }
    std::string_view key_name = "key";
    if (!r.key_file.empty()) {
        key_name = "key_file";
        r.key_file = resolve_path(base_folder, r.key_file);
        auto text = read_file("key file", r.key_file, key_file_bytes_max);
        if (!text || !key_text.empty()) {
            section.fail(
                section.node(key_name), key_name,
                !key_text.empty() ? "give key or key_file, not both" : text.error().message);
            return;
        }
        key_text = std::move(*text);
    }
    if (key_text.empty()) {
        if (!r.bounce_domain.empty()) {
            section.fail(section.node("bounce_domain"), "key",
                         "is required with bounce_domain (key or key_file, in hex)");
        }
        return;
    }
    auto key = hex_bytes(key_text);
    if (!key) {
        section.fail(section.node(key_name), key_name, "must be hexadecimal");
    } else if (key->size() < bounce::verp_key_bytes_min) {
        section.fail(section.node(key_name), key_name,
                     "must hold at least " + std::to_string(bounce::verp_key_bytes_min) +
                         " bytes (got " + std::to_string(key->size()) + ")");
    } else {
        r.key = std::move(*key);
    }
}

// [bounces]. A bounce listener needs the bounce domain and its key: without them no address
// could be accepted.
void read_bounces(Section& root, Config& config, std::vector<std::string>& errors,
                  const std::string& file) {
    Section section(root.table("bounces"), "bounces", errors, file);
    Bounces& b = config.bounces;
    section.integer("message_bytes_max", b.message_bytes_max, 64 * 1024, 64ll << 20);
    section.integer("soft_bounces_to_hard", b.soft_bounces_to_hard, 1, 1000, true);
    section.integer("soft_bounce_recipients_max", b.soft_bounce_recipients_max, 1, 10'000'000);
    section.integer("message_index_s", b.message_index_s, 3600, 366 * 86400, true);
    section.integer("message_index_entries_max", b.message_index_entries_max, 1, 100'000'000);
    section.integer("message_index_recipients_max", b.message_index_recipients_max, 1, 1000);
    section.integer("unparsed_files_max", b.unparsed_files_max, 0, 1'000'000);
    section.integer("queue_max", b.queue_max, 1, 1'000'000);
    section.integer("queue_bytes_max", b.queue_bytes_max, 64 * 1024, 64ll << 30);
    section.integer("connections_max", b.connections_max, 1, 1'000'000);
    section.integer("connections_per_client_max", b.connections_per_client_max, 1, 1'000'000);
    if (b.queue_bytes_max < b.message_bytes_max) {
        section.fail(section.node("queue_bytes_max"), "queue_bytes_max",
                     "must be at least message_bytes_max (" + std::to_string(b.message_bytes_max) +
                         "), or no report would fit");
    }
    std::size_t errors_before = section.error_count();
    std::vector<std::string> local_parts;
    section.string_list("complaint_local_parts", local_parts);
    if (section.node("complaint_local_parts") != nullptr &&
        section.error_count() == errors_before) {
        for (std::string& local : local_parts) {
            local = ascii_lower(local);
            if (local.empty() || local.size() > 64 || local.starts_with("bounces+") ||
                local.find_first_of("@ \t\"<>") != std::string::npos) {
                section.fail(section.node("complaint_local_parts"), "complaint_local_parts",
                             "\"" + local + "\" is not a local part of 1 to 64 octets");
                break;
            }
        }
        b.complaint_local_parts = std::move(local_parts);
    }
    section.finish();
    bool listening = std::any_of(config.listeners.begin(), config.listeners.end(),
                                 [](const Listener& l) { return l.role == ListenerRole::bounce; });
    if (listening && (config.return_path.bounce_domain.empty() || config.return_path.key.empty())) {
        root.fail(nullptr, "listener",
                  "a listener with role = \"bounce\" needs [return_path] bounce_domain and key");
    }
}
}  // namespace

// [dkim]. The names are kept lower case (h= is written so, and matched without regard to case).
// From must be signed: it is the field DKIM's domain vouches for (RFC 6376 §5.4).
constexpr std::size_t dkim_signed_headers_max = 64;
constexpr std::size_t dkim_header_name_bytes_max = 76;  // a name and its colon fit a line

bool is_field_name(std::string_view name) {
    return !name.empty() && name.size() <= dkim_header_name_bytes_max &&
           std::all_of(name.begin(), name.end(),
                       [](char c) { return c > 32 && c < 127 && c != ':'; });
}

void read_dkim_signed_headers(Section& section, Dkim& dkim) {
    std::vector<std::string> names;
    std::size_t errors_before = section.error_count();
    section.string_list("signed_headers", names);
    const toml::node* node = section.node("signed_headers");
    if (node == nullptr || section.error_count() != errors_before) {
        return;  // absent (the default list), or string_list has said what is wrong
    }
    if (names.size() > dkim_signed_headers_max) {
        section.fail(node, "signed_headers",
                     "must name at most " + std::to_string(dkim_signed_headers_max) + " fields");
        return;
    }
    std::vector<std::string> lower_names;
    for (const std::string& name : names) {
        if (!is_field_name(name)) {
            section.fail(node, "signed_headers",
                         "\"" + name + "\" is not a header field name (1 to " +
                             std::to_string(dkim_header_name_bytes_max) +
                             " printable ASCII characters, no colon)");
            return;
        }
        std::string lower = ascii_lower(name);
        if (std::find(lower_names.begin(), lower_names.end(), lower) != lower_names.end()) {
            section.fail(node, "signed_headers", "names " + name + " twice");
            return;
        }
        lower_names.push_back(std::move(lower));
    }
    if (std::find(lower_names.begin(), lower_names.end(), "from") == lower_names.end()) {
        section.fail(node, "signed_headers", "must include From (RFC 6376 §5.4)");
        return;
    }
    dkim.signed_headers = std::move(lower_names);
}

void read_dkim(Section& root, Config& config, std::vector<std::string>& errors,
               const std::string& file) {
    Section section(root.table("dkim"), "dkim", errors, file);
    Dkim& d = config.dkim;
    read_dkim_signed_headers(section, d);
    section.integer("expiration_s", d.expiration_s, 60, 366 * 86400, true);
    section.integer("signing_threads", d.signing_threads, 0, 64);
    section.integer("signing_queue_max", d.signing_queue_max, 1, 1000000);
    section.finish();
}

// [cluster]: present or not decides cluster mode. TLS to Redis is not offered: Debian's hiredis
// (0.14) has none, so a `tls` key is refused with a pointer to a tunnel instead of ignored.
void read_cluster(Section& root, Config& config, std::vector<std::string>& errors,
                  const std::string& file, const std::string& base_folder) {
    const toml::table* table = root.table("cluster");
    if (table == nullptr) {
        return;
    }
    Cluster& c = config.cluster;
    c.enabled = true;
    c.node_id = config.server.hostname;
    Section section(table, "cluster", errors, file);
    section.string("redis", c.redis);
    if (!c.redis.empty() && c.redis.find(':') == std::string::npos) {
        c.redis = resolve_path(base_folder, c.redis);  // a unix socket
    }
    section.string("password", c.password, true);
    section.string("node_id", c.node_id);
    bool tls = false;
    section.boolean("tls", tls);
    if (tls) {
        section.fail(section.node("tls"), "tls",
                     "not supported by this build's hiredis (0.14): reach Redis over a TLS "
                     "tunnel (stunnel, spiped) on loopback or a unix socket");
    }
    section.integer("connect_timeout_ms", c.connect_timeout_ms, 10, 60000);
    section.integer("command_timeout_ms", c.command_timeout_ms, 10, 60000);
    section.integer("reconnect_ms_min", c.reconnect_ms_min, 10, 60000);
    section.integer("reconnect_ms_max", c.reconnect_ms_max, 10, 600000);
    section.integer("grace_ms", c.grace_ms, 1000, 600000);
    section.integer("lease_units_max", c.lease_units_max, 1, 100000);
    section.boolean("shared_store", c.shared_store);
    if (c.reconnect_ms_max < c.reconnect_ms_min) {
        section.fail(section.node("reconnect_ms_max"), "reconnect_ms_max",
                     "must not be below reconnect_ms_min");
    }
    section.finish();
}

// [admin]: an address such as listen = "127.0.0.1:8025"; absent or empty leaves it off.
void read_admin_address(Section& section, const toml::table* table, std::string_view key,
                        bool& enabled, engine::SocketAddress& out) {
    std::string text;
    section.string(key, text, true);
    if (text.empty()) {
        return;
    }
    if (auto parsed = engine::SocketAddress::parse(text); parsed && parsed->port() != 0) {
        out = *parsed;
        enabled = true;
    } else {
        section.fail(table->get(key), key,
                     "must be \"IP:PORT\" or \"[IPv6]:PORT\" (got \"" + text + "\")");
    }
}

void read_admin(Section& root, Config& config, std::vector<std::string>& errors,
                const std::string& file, const std::string& base_folder) {
    const toml::table* table = root.table("admin");
    Section section(table, "admin", errors, file);
    Admin& a = config.admin;
    if (table != nullptr) {
        read_admin_address(section, table, "listen", a.enabled, a.listen);
        read_admin_address(section, table, "metrics_listen", a.metrics_separate, a.metrics_listen);
    }
    section.string("certificate_chain_file", a.certificate_chain_file);
    section.string("private_key_file", a.private_key_file);
    section.integer("page_items_max", a.page_items_max, 10, 100000);
    section.integer("request_bytes_max", a.request_bytes_max, 1024, 64 << 20);
    section.integer("threads", a.threads, 1, 64);
    section.string("dashboard_dir", a.dashboard_dir);
    a.dashboard_dir = a.dashboard_dir.empty() ? std::string(RELAY_DASHBOARD_DIR)
                                              : resolve_path(base_folder, a.dashboard_dir);
    section.finish();
    if (a.certificate_chain_file.empty() != a.private_key_file.empty()) {
        section.fail(table, "certificate_chain_file",
                     "TLS needs both certificate_chain_file and private_key_file");
    }
    if (!a.certificate_chain_file.empty()) {
        a.certificate_chain_file = resolve_path(base_folder, a.certificate_chain_file);
        a.private_key_file = resolve_path(base_folder, a.private_key_file);
    }
}

Result<Config> parse(std::string_view text, const std::string& base_folder,
                     const std::string& file_name) {
    if (Status characters = check_characters(text, file_name); !characters) {
        return characters.error();
    }
    toml::table document;
    try {
        document = toml::parse(text, file_name);
    } catch (const toml::parse_error& error) {
        std::ostringstream line;
        line << file_name << ":" << error.source().begin.line << ": " << error.description();
        return Error{line.str()};
    }
    Config config;
    config.file = file_name;
    std::vector<std::string> errors;
    Section root(&document, "", errors, file_name);
    read_server(root, config, errors, file_name);
    read_listeners(root, config, errors, file_name);
    read_limits(root, config, errors, file_name);
    read_timeouts(root, config, errors, file_name);
    read_spool(root, config, errors, file_name, base_folder);
    read_delivery(root, config, errors, file_name, base_folder);
    read_store(root, config, errors, file_name, base_folder);
    read_inbound_tls(root, config, errors, file_name, base_folder);
    read_recommendations(root, config, errors, file_name);
    read_return_path(root, config, errors, file_name, base_folder);
    read_dkim(root, config, errors, file_name);
    read_cluster(root, config, errors, file_name, base_folder);
    read_bounces(root, config, errors, file_name);
    read_admin(root, config, errors, file_name, base_folder);
    root.finish();
    if (!errors.empty()) {
        std::string message;
        for (const std::string& error : errors) {
            message += message.empty() ? "" : "\n";
            message += error;
        }
        return Error{message};
    }
    return config;
}

Result<Config> load(const std::string& path) {
    auto text = read_file("config file", path, config_file_bytes_max);
    if (!text) {
        return text.error();
    }
    std::error_code ignored;
    std::filesystem::path absolute = std::filesystem::absolute(path, ignored).lexically_normal();
    return parse(text.value(), absolute.parent_path().string(), absolute.string());
}

}  // namespace relay::config
