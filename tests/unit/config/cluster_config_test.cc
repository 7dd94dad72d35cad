// cluster_config_test.cc -- the [cluster] table: absent means no cluster mode; present, its
// defaults, a unix socket path resolved against the config's folder, and what is refused (TLS,
// which this build's hiredis lacks; a backoff whose maximum is below its minimum; unknown keys).
#include <gtest/gtest.h>

#include <string>

#include "relay/config/config.h"

namespace relay::config {
namespace {

const std::string listener =
    "[server]\nhostname = \"relay1.test\"\n"
    "[[listener]]\naddress = \"127.0.0.1:2525\"\n";

Result<Config> parse_text(const std::string& text) {
    return parse(text, "/etc/relay", "/etc/relay/relayd.toml");
}

TEST(ClusterConfig, AbsentMeansASingleNode) {
    auto config = parse_text(listener);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_FALSE(config.value().cluster.enabled);
}

TEST(ClusterConfig, PresentTakesDefaultsAndTheHostnameAsNodeId) {
    auto config = parse_text(listener + "[cluster]\n");
    ASSERT_TRUE(config) << config.error().message;
    const Cluster& cluster = config.value().cluster;
    EXPECT_TRUE(cluster.enabled);
    EXPECT_EQ(cluster.redis, "127.0.0.1:6379");
    EXPECT_EQ(cluster.node_id, "relay1.test");
    EXPECT_EQ(cluster.grace_ms, 10000u);
    EXPECT_TRUE(cluster.password.empty());
}

TEST(ClusterConfig, AUnixSocketPathResolvesAgainstTheConfigFolder) {
    auto config = parse_text(listener +
                             "[cluster]\nredis = \"run/redis.sock\"\npassword = \"s\"\n"
                             "node_id = \"n1\"\ngrace_ms = 2000\n");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config.value().cluster.redis, "/etc/relay/run/redis.sock");
    EXPECT_EQ(config.value().cluster.password, "s");
    EXPECT_EQ(config.value().cluster.node_id, "n1");
    EXPECT_EQ(config.value().cluster.grace_ms, 2000u);
}

TEST(ClusterConfig, TlsABackwardBackoffAndUnknownKeysAreRefused) {
    auto tls = parse_text(listener + "[cluster]\ntls = true\n");
    ASSERT_FALSE(tls);
    EXPECT_NE(tls.error().message.find("cluster.tls: not supported"), std::string::npos)
        << tls.error().message;
    auto backoff =
        parse_text(listener + "[cluster]\nreconnect_ms_min = 500\nreconnect_ms_max = 100\n");
    ASSERT_FALSE(backoff);
    EXPECT_NE(backoff.error().message.find("cluster.reconnect_ms_max"), std::string::npos);
    auto unknown = parse_text(listener + "[cluster]\nredis_url = \"x\"\n");
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().message.find("cluster.redis_url: unknown key"), std::string::npos);
    auto grace = parse_text(listener + "[cluster]\ngrace_ms = 10\n");
    ASSERT_FALSE(grace);
    EXPECT_NE(grace.error().message.find("cluster.grace_ms"), std::string::npos);
}

}  // namespace
}  // namespace relay::config
