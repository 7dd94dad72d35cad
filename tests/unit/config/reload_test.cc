// reload_test.cc -- what SIGHUP takes from a new file and what it leaves for a restart.
#include "relay/config/reload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace relay::config {
namespace {

Config parse_text(const std::string& text) {
    auto config = parse(text, "/etc/relay", "/etc/relay/relayd.toml");
    EXPECT_TRUE(config) << config.error().message;
    return config ? config.value() : Config{};
}

const std::string base =
    "[server]\nhostname = \"relay.example\"\n[[listener]]\naddress = \"127.0.0.1:2525\"\n";

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(Reload, SameFileChangesNothing) {
    Config running = parse_text(base);
    Reload reload = prepare_reload(running, parse_text(base));
    EXPECT_TRUE(reload.applied.empty());
    EXPECT_TRUE(reload.restart.empty());
}

TEST(Reload, LimitsTimeoutsAndLogLevelApply) {
    Config running = parse_text(base + "[limits]\nrecipients_per_message_max = 3\n");
    Config loaded = parse_text(base +
                               "[limits]\nrecipients_per_message_max = 5\n"
                               "[timeouts]\ncommand_s = 60\n[delivery]\nretry_schedule_s = [10]\n");
    loaded.server.log_level = "debug";
    Reload reload = prepare_reload(running, loaded);
    EXPECT_EQ(reload.config.limits.recipients_per_message_max, 5u);
    EXPECT_EQ(reload.config.timeouts.command_s, 60u);
    EXPECT_EQ(reload.config.server.log_level, "debug");
    EXPECT_EQ(reload.config.delivery.retry_schedule_s, std::vector<std::uint32_t>{10});
    EXPECT_TRUE(contains(reload.applied, "limits"));
    EXPECT_TRUE(contains(reload.applied, "timeouts"));
    EXPECT_TRUE(contains(reload.applied, "server.log_level"));
    EXPECT_TRUE(contains(reload.applied, "delivery.retry_schedule_s"));
    EXPECT_TRUE(reload.restart.empty());
}

TEST(Reload, ListenersSpoolAndHostNameKeepTheirRunningValue) {
    Config running = parse_text(base);
    Config loaded = parse_text(
        "[server]\nhostname = \"other.example\"\nworkers = 3\n"
        "[[listener]]\naddress = \"127.0.0.1:2526\"\nbare_line_endings = \"normalize\"\n"
        "[[listener]]\naddress = \"127.0.0.1:2527\"\n"
        "[spool]\npath = \"/var/spool/other\"\n"
        "[limits]\nconnections_max = 7\n");
    Reload reload = prepare_reload(running, loaded);
    EXPECT_EQ(reload.config.listeners, running.listeners);
    EXPECT_EQ(reload.config.spool, running.spool);
    EXPECT_EQ(reload.config.server.hostname, "relay.example");
    EXPECT_EQ(reload.config.server.workers, running.server.workers);
    EXPECT_EQ(reload.config.limits.connections_max, 7u);  // what reloads still does
    for (const char* key : {"server.hostname", "server.workers", "spool.path",
                            "listener[0].address", "listener[0].bare_line_endings"}) {
        EXPECT_TRUE(contains(reload.restart, key)) << key;
    }
    EXPECT_TRUE(contains(reload.restart, "listener (1 running, 2 in the file)"));
    EXPECT_FALSE(contains(reload.restart, "listener[0].name"));
}

TEST(Reload, RoutesAndTheResolverWaitForARestart) {
    Config running = parse_text(base);
    Config loaded = parse_text(base +
                               "[delivery]\ndns_timeout_ms = 900\n"
                               "[[route]]\ndomain = \"*\"\nhost = \"mx.example.com:25\"\n");
    Reload reload = prepare_reload(running, loaded);
    EXPECT_TRUE(reload.config.delivery.routes.empty());
    EXPECT_EQ(reload.config.delivery.dns_timeout_ms, running.delivery.dns_timeout_ms);
    EXPECT_TRUE(contains(reload.restart, "route"));
    EXPECT_TRUE(contains(reload.restart, "delivery.dns_timeout_ms"));
    EXPECT_TRUE(reload.applied.empty());
}

TEST(Reload, ShapingAndPerDestinationLimitsApply) {
    Config running = parse_text(base);
    Config loaded = parse_text(base +
                               "[delivery]\nconnections_per_host_max = 2\n"
                               "[[shaping]]\ndomain = \"gmail.com\"\nconnections_max = 5\n");
    Reload reload = prepare_reload(running, loaded);
    EXPECT_EQ(reload.config.delivery.connections_per_host_max, 2u);
    ASSERT_EQ(reload.config.delivery.shaping.size(), 1u);
    EXPECT_EQ(reload.config.delivery.shaping[0].domain, "gmail.com");
    EXPECT_TRUE(contains(reload.applied, "shaping"));
    EXPECT_TRUE(contains(reload.applied, "delivery.connections_per_host_max"));
    EXPECT_TRUE(reload.restart.empty());
}

TEST(Reload, ListenerClientsApply) {
    Config running = parse_text(base);
    Config loaded = parse_text(base + "clients = [\"127.0.0.1/32\", \"192.0.2.0/24\"]\n");
    Reload reload = prepare_reload(running, loaded);
    EXPECT_EQ(reload.config.listeners[0].clients, loaded.listeners[0].clients);
    EXPECT_EQ(reload.config.listeners[0].address, running.listeners[0].address);
    EXPECT_TRUE(contains(reload.applied, "listener[0].clients"));
    EXPECT_TRUE(reload.restart.empty());
}

// The balancers' networks reload as the clients do; switching the protocol on or off, or its
// header's bounds, changes how connections start: a restart.
TEST(Reload, ProxyFromAppliesTheRestWaitsForARestart) {
    const std::string proxied = base + "proxy_protocol = true\n";
    Config running = parse_text(proxied + "proxy_from = [\"10.0.0.1\"]\n");
    Config loaded = parse_text(proxied + "proxy_from = [\"10.0.0.2\", \"10.0.0.3\"]\n");
    Reload reload = prepare_reload(running, loaded);
    EXPECT_EQ(reload.config.listeners[0].proxy_from, loaded.listeners[0].proxy_from);
    EXPECT_TRUE(contains(reload.applied, "listener[0].proxy_from"));
    EXPECT_TRUE(reload.restart.empty());

    loaded = parse_text(proxied +
                        "proxy_from = [\"10.0.0.1\"]\nproxy_header_timeout_s = 9\n"
                        "proxy_header_bytes_max = 4096\n");
    reload = prepare_reload(running, loaded);
    EXPECT_EQ(reload.config.listeners[0].proxy_header_timeout_s, 5u);
    EXPECT_TRUE(contains(reload.restart, "listener[0].proxy_header_timeout_s"));
    EXPECT_TRUE(contains(reload.restart, "listener[0].proxy_header_bytes_max"));
    reload = prepare_reload(running, parse_text(base));
    EXPECT_TRUE(reload.config.listeners[0].proxy_protocol);
    EXPECT_TRUE(contains(reload.restart, "listener[0].proxy_protocol"));
}

}  // namespace
}  // namespace relay::config
