// config_test.cc -- the loader from text: every kind of bad value is refused with its key and
// line named, and values at their bounds are accepted.
#include "relay/config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace relay::config {
namespace {

const std::string listener = "[[listener]]\naddress = \"127.0.0.1:2525\"\n";
const std::string listener_clients_example =
    "[[listener]]\naddress = \"[::]:2526\"\n"
    "clients = [\"192.0.2.0/24\", \"2001:db8::/32\", \"10.1.2.3\"]\n";

const std::string bounce_listener =
    "[[listener]]\nname = \"bounces\"\naddress = \"127.0.0.1:2527\"\nrole = \"bounce\"\n";
const std::string return_path =
    "[return_path]\nbounce_domain = \"bounces.example\"\n"
    "key = \"000102030405060708090a0b0c0d0e0f\"\n";

Result<Config> parse_text(const std::string& text) {
    return parse(text, "/etc/relay", "/etc/relay/relayd.toml");
}

// The loader's whole complaint for `text`; fails the test when it loads.
std::string error_of(const std::string& text) {
    auto config = parse_text(text);
    if (config) {
        ADD_FAILURE() << "loaded:\n" << text;
        return "";
    }
    return config.error().message;
}

TEST(ConfigParse, MinimalFileGetsTheDefaults) {
    auto config = parse_text(listener);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->listeners.size(), 1u);
    EXPECT_EQ(config->listeners[0].address.port(), 2525);
    EXPECT_EQ(config->limits.recipients_per_message_max, 1000u);
    EXPECT_EQ(config->spool.path, "/etc/relay/spool");  // relative to the file's folder
    EXPECT_EQ(config->file, "/etc/relay/relayd.toml");
}

TEST(ConfigParse, ListenersAdmitLoopbackUnlessToldOtherwise) {
    auto config = parse_text(listener + listener_clients_example);
    ASSERT_TRUE(config) << config.error().message;
    ASSERT_EQ(config->listeners.size(), 2u);
    std::vector<std::string> defaults;
    for (const Cidr& network : config->listeners[0].clients) {
        defaults.push_back(network.to_string());
    }
    EXPECT_EQ(defaults, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
    std::vector<std::string> listed;
    for (const Cidr& network : config->listeners[1].clients) {
        listed.push_back(network.to_string());
    }
    EXPECT_EQ(listed, (std::vector<std::string>{"192.0.2.0/24", "2001:db8::/32", "10.1.2.3/32"}));
}

TEST(ConfigParse, ProxyProtocolListener) {
    auto config = parse_text(listener + listener_clients_example +
                             "proxy_protocol = true\nproxy_from = [\"10.0.0.0/29\", \"::1\"]\n"
                             "proxy_header_timeout_s = 2\nproxy_header_bytes_max = 232\n");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_FALSE(config->listeners[0].proxy_protocol);
    EXPECT_TRUE(config->listeners[0].proxy_from.empty());
    EXPECT_EQ(config->listeners[0].proxy_header_timeout_s, 5u);
    EXPECT_EQ(config->listeners[0].proxy_header_bytes_max, 1024u);
    const Listener& balanced = config->listeners[1];
    EXPECT_TRUE(balanced.proxy_protocol);
    std::vector<std::string> balancers;
    for (const Cidr& network : balanced.proxy_from) {
        balancers.push_back(network.to_string());
    }
    EXPECT_EQ(balancers, (std::vector<std::string>{"10.0.0.0/29", "::1/128"}));
    EXPECT_EQ(balanced.proxy_header_timeout_s, 2u);
    EXPECT_EQ(balanced.proxy_header_bytes_max, 232u);
}

TEST(ConfigParse, RoutesAreParsedIntoHostAndPort) {
    auto config = parse_text(listener +
                             "[[route]]\ndomain = \"example.com\"\nhost = \"mx.example.net:2525\"\n"
                             "[[route]]\ndomain = \"*\"\nhost = \"[2001:db8::25]:25\"\n");
    ASSERT_TRUE(config) << config.error().message;
    ASSERT_EQ(config->delivery.routes.size(), 2u);
    EXPECT_EQ(config->delivery.routes[0].endpoint, (Endpoint{"mx.example.net", 2525}));
    EXPECT_EQ(config->delivery.routes[1].endpoint, (Endpoint{"[2001:db8::25]", 25}));
}

TEST(ConfigParse, OutboundTlsPolicyKeys) {
    auto config = parse_text(listener +
                             "[delivery]\ntls = \"required\"\nmta_sts = false\n"
                             "mta_sts_port = 8443\nmta_sts_fetch_timeout_s = 3\n"
                             "mta_sts_policies_max = 0\n"
                             "[[shaping]]\ndomain = \"a.example\"\ntls = \"mta-sts\"\n"
                             "[[shaping]]\ndomain = \"b.example\"\nmta_sts = true\n"
                             "[[shaping]]\ndomain = \"c.example\"\n");
    ASSERT_TRUE(config) << config.error().message;
    const Delivery& delivery = config->delivery;
    EXPECT_EQ(delivery.tls, TlsPolicy::required);
    EXPECT_FALSE(delivery.mta_sts);
    EXPECT_EQ(delivery.mta_sts_port, 8443);
    EXPECT_EQ(delivery.mta_sts_fetch_timeout_s, 3u);
    EXPECT_EQ(delivery.mta_sts_policies_max, 0u);
    ASSERT_EQ(delivery.shaping.size(), 3u);
    EXPECT_EQ(delivery.shaping[0].tls, TlsPolicy::mta_sts);
    EXPECT_EQ(delivery.shaping[0].mta_sts, std::nullopt);
    EXPECT_EQ(delivery.shaping[1].tls, std::nullopt);  // unset: [delivery] tls applies
    EXPECT_EQ(delivery.shaping[1].mta_sts, true);
    EXPECT_EQ(delivery.shaping[2].tls, std::nullopt);
    EXPECT_TRUE(parse_text(listener)->delivery.mta_sts);  // on by default
}

TEST(ConfigParse, MtaStsIsRefusedOnAStaticRoute) {
    std::string message = error_of(listener +
                                   "[[route]]\ndomain = \"example.com\"\n"
                                   "host = \"192.0.2.1:25\"\ntls = \"mta-sts\"\n");
    EXPECT_NE(message.find("route[0].tls"), std::string::npos) << message;
    EXPECT_NE(message.find("not to a static route"), std::string::npos) << message;
}

struct BadValue {
    std::string text;
    std::string expected;  // part of the message: the line and key, then what is wrong
};

class ConfigRefuses : public testing::TestWithParam<BadValue> {};

TEST_P(ConfigRefuses, NamingTheKey) {
    std::string message = error_of(GetParam().text);
    EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
    EXPECT_EQ(message.rfind("/etc/relay/relayd.toml:", 0), 0u) << message;
}

std::string route(const std::string& domain, const std::string& host) {
    return listener + "[[route]]\ndomain = \"" + domain + "\"\nhost = \"" + host + "\"\n";
}

INSTANTIATE_TEST_SUITE_P(
    Values, ConfigRefuses,
    testing::Values(
        // Ports, in listeners, routes and resolvers.
        BadValue{"[[listener]]\naddress = \"127.0.0.1:70000\"\n",
                 ":2: listener[0].address: the port must be a number from 1 to 65535 (got "
                 "\"70000\")"},
        BadValue{"[[listener]]\naddress = \"127.0.0.1:65536\"\n", "listener[0].address"},
        BadValue{"[[listener]]\naddress = \"127.0.0.1:0\"\n", "listener[0].address"},
        BadValue{"[[listener]]\naddress = \"127.0.0.1\"\n", "listener[0].address"},
        BadValue{"[[listener]]\naddress = \"mx.example.com:25\"\n",
                 "listener[0].address: must be \"IP:PORT\""},
        BadValue{"[[listener]]\naddress = \"::1:25\"\n", "listener[0].address"},
        BadValue{"[[listener]]\nname = \"a\"\n", "listener[0].address: is required"},
        BadValue{listener + listener,
                 ":4: listener[1].address: is already the address of listener \"smtp\""},
        BadValue{"", "listener: at least one [[listener]] is required"},
        // Client networks.
        BadValue{listener + "clients = [\"127.0.0.0/33\"]\n",
                 ":3: listener[0].clients: the prefix length must be a number from 0 to 32"},
        BadValue{listener + "clients = [\"::1/128\", \"10.0.0.1/8\"]\n",
                 "listener[0].clients: has bits set after the prefix length (got \"10.0.0.1/8\"; "
                 "did you mean 10.0.0.0/8?)"},
        BadValue{listener + "clients = [\"localhost\"]\n",
                 "listener[0].clients: must be a network \"ADDRESS/BITS\" (got \"localhost\")"},
        BadValue{listener + "clients = []\n",
                 "listener[0].clients: must list at least one network"},
        BadValue{listener + "clients = \"127.0.0.0/8\"\n",
                 "listener[0].clients: must be an array of strings"},
        BadValue{listener + "clients = [\"::1\", 8]\n",
                 "listener[0].clients: must be an array of strings"},
        // The PROXY protocol: only with the balancers named, and their keys only with it on.
        BadValue{listener + "proxy_protocol = true\n",
                 ":1: listener[0].proxy_from: is required with proxy_protocol = true"},
        BadValue{listener + "proxy_protocol = true\nproxy_from = []\n",
                 "listener[0].proxy_from: must list at least one network"},
        BadValue{listener + "proxy_protocol = true\nproxy_from = [\"balancer.example\"]\n",
                 "listener[0].proxy_from: must be a network \"ADDRESS/BITS\""},
        BadValue{listener + "proxy_protocol = \"v2\"\n",
                 "listener[0].proxy_protocol: must be true or false"},
        BadValue{listener + "proxy_from = [\"10.0.0.1\"]\n",
                 ":3: listener[0].proxy_from: needs proxy_protocol = true"},
        BadValue{listener + "proxy_header_timeout_s = 3\n",
                 "listener[0].proxy_header_timeout_s: needs proxy_protocol = true"},
        BadValue{listener + "proxy_protocol = true\nproxy_from = [\"10.0.0.1\"]\n"
                            "proxy_header_timeout_s = 0\n",
                 "listener[0].proxy_header_timeout_s: must be between 1 and 300"},
        BadValue{listener + "proxy_protocol = true\nproxy_from = [\"10.0.0.1\"]\n"
                            "proxy_header_bytes_max = 231\n",
                 "listener[0].proxy_header_bytes_max: must be between 232 and 65551"},
        BadValue{route("example.com", "mx:abc"),
                 ":5: route[0].host: the port must be a number from 1 to 65535 (got \"abc\")"},
        BadValue{route("example.com", "mx.example.com"), "route[0].host: must be \"HOST:PORT\""},
        BadValue{route("example.com", "mx.example.com:0"), "route[0].host"},
        BadValue{route("example.com", "mx_1.example.com:25"), "route[0].host"},
        BadValue{route("example.com", "2001:db8::1:25"), "route[0].host"},
        BadValue{route("exa mple.com", "mx.example.com:25"), "route[0].domain"},
        BadValue{route("*.example.com", "mx.example.com:25"), "route[0].domain"},
        BadValue{listener + "[delivery]\nresolvers = [\"127.0.0.1:53\", \"127.0.0.1:99999\"]\n",
                 "delivery.resolvers: entries must be \"IP:PORT\""},
        BadValue{listener + "[delivery]\nresolvers = [\"dns.example:53\"]\n", "delivery.resolvers"},
        BadValue{listener + "[delivery]\nport = 0\n", "delivery.port: must be between 1 and 65535"},
        BadValue{listener + "[delivery]\nport = 65536\n", "delivery.port"},
        // Host names.
        BadValue{"[server]\nhostname = \"relay host\"\n" + listener, ":2: server.hostname"},
        BadValue{"[server]\nhostname = \"\"\n" + listener, "server.hostname: must not be empty"},
        // Integers: bounds, types, durations.
        BadValue{listener + "[limits]\nrecipients_per_message_max = 0\n",
                 "limits.recipients_per_message_max: must be between 1 and 100000 (got 0)"},
        BadValue{listener + "[limits]\nrecipients_per_message_max = 100001\n",
                 "limits.recipients_per_message_max"},
        BadValue{listener + "[limits]\nrecipients_per_message_max = \"10\"\n",
                 "limits.recipients_per_message_max: must be an integer"},
        BadValue{listener + "[limits]\nrecipients_per_message_max = 1.5\n",
                 "limits.recipients_per_message_max: must be an integer"},
        // A float is never an integer, however large: 5e24 does not fit int64 at all.
        BadValue{listener + "[limits]\ncommand_line_bytes_max = 5e24\n",
                 "limits.command_line_bytes_max: must be an integer"},
        BadValue{listener + "[limits]\ncommand_line_bytes_max = -1e300\n",
                 "limits.command_line_bytes_max: must be an integer"},
        BadValue{listener + "[limits]\ncommand_line_bytes_max = 1e3\n",
                 "limits.command_line_bytes_max: must be an integer"},
        BadValue{listener + "[limits]\ncommand_line_bytes_max = inf\n",
                 "limits.command_line_bytes_max: must be an integer"},
        BadValue{listener + "[limits]\ncommand_line_bytes_max = nan\n",
                 "limits.command_line_bytes_max: must be an integer"},
        BadValue{listener + "[limits]\ncommand_line_bytes_max = 511\n",
                 "limits.command_line_bytes_max"},
        BadValue{listener + "[limits]\nmessage_line_bytes_max = 997\n",
                 "must be 0 (no limit) or between 998 and 1048576"},
        BadValue{listener + "[timeouts]\ncommand_s = 0\n", "timeouts.command_s"},
        BadValue{listener + "[timeouts]\ncommand_s = -1\n", "timeouts.command_s"},
        BadValue{listener + "[timeouts]\ntransaction_s = 604801\n", "timeouts.transaction_s"},
        BadValue{listener + "[delivery]\nretry_schedule_s = []\n",
                 "delivery.retry_schedule_s: must be a non-empty array"},
        BadValue{listener + "[delivery]\nretry_schedule_s = [60, 0]\n",
                 "delivery.retry_schedule_s: must hold integers between 1 and 604800"},
        BadValue{listener + "[delivery]\nretry_schedule_s = [60, 9e30]\n",
                 "delivery.retry_schedule_s: must hold integers between 1 and 604800"},
        BadValue{listener + "[delivery]\nmaximum_age_s = 4\n", "delivery.maximum_age_s"},
        BadValue{listener + "[server]\nworkers = 257\n", "server.workers"},
        // Choices, booleans, tables, unknown keys.
        BadValue{listener + "[server]\nlog_level = \"verbose\"\n",
                 "server.log_level: must be one of \"debug\", \"info\", \"warning\", \"error\" "
                 "(got \"verbose\")"},
        BadValue{listener + "[delivery]\ntls = \"always\"\n", "delivery.tls: must be one of"},
        BadValue{listener + "[limits]\nrequire_valid_utf8 = \"yes\"\n",
                 "limits.require_valid_utf8: must be true or false"},
        BadValue{listener + "[limits]\nrecipient_max = 5\n", "limits.recipient_max: unknown key"},
        BadValue{listener + "[limit]\n", "limit: unknown key"},
        BadValue{"limits = 5\n" + listener, "limits: must be a table"},
        BadValue{"listener = 5\n", "listener: must be an array of tables"},
        // The return path: the key is named, with its length.
        BadValue{listener + "[return_path]\nbounce_domain = \"bounces.example\"\n",
                 ":4: return_path.key: is required with bounce_domain"},
        BadValue{listener + "[return_path]\nbounce_domain = \"b.example\"\nkey = \"0011\"\n",
                 ":5: return_path.key: must hold at least 16 bytes (got 2)"},
        BadValue{listener + "[return_path]\nbounce_domain = \"b.example\"\nkey = \"zz\"\n",
                 "return_path.key: must be hexadecimal"},
        BadValue{listener + "[return_path]\nbounce_domain = \"b.example\"\n"
                            "key_file = \"missing.key\"\n",
                 "return_path.key_file: cannot read key file /etc/relay/missing.key: No such file "
                 "or directory"},
        BadValue{listener + "[return_path]\nbounce_domain = \"b ad\"\n",
                 "return_path.bounce_domain: must be a domain name"},
        BadValue{listener + "[return_path]\nkey_files = \"x\"\n",
                 "return_path.key_files: unknown key"},
        // The bounce listener: no AUTH, no client networks, and the bounce domain is needed.
        BadValue{bounce_listener, "a listener with role = \"bounce\" needs [return_path]"},
        BadValue{bounce_listener + "clients = [\"10.0.0.0/8\"]\n" + return_path,
                 "listener[0].clients: is not for a bounce listener"},
        BadValue{bounce_listener + "auth = \"required\"\nauth_plaintext = true\n" + return_path,
                 "listener[0].auth: must be \"off\" on a bounce listener"},
        BadValue{listener + "role = \"bounces\"\n", "listener[0].role: must be one of"},
        BadValue{listener + "[bounces]\nsoft_bounces_to_hard = 1001\n",
                 "bounces.soft_bounces_to_hard: must be 0 (no limit) or between 1 and 1000"},
        BadValue{listener + "[bounces]\nmessage_bytes_max = 1000\n", "bounces.message_bytes_max"},
        BadValue{listener + "[bounces]\nconnections_max = 0\n", "bounces.connections_max"},
        BadValue{listener + "[bounces]\nconnections_per_client_max = \"20\"\n",
                 "bounces.connections_per_client_max"},
        BadValue{listener + "[bounces]\ncomplaint_local_parts = [\"a@b\"]\n",
                 "bounces.complaint_local_parts: \"a@b\" is not a local part"},
        BadValue{listener + "[bounces]\nunparsed_max = 3\n", "bounces.unparsed_max: unknown key"},
        // Syntax, and input tomlplusplus 3.3 mishandles (fuzz/config_fuzzer.cc found these).
        BadValue{listener + "[limits\n", "relayd.toml:3: "},
        BadValue{listener + "[limits]\nconnections_max = 99999999999999999999\n",
                 "relayd.toml:4: "},
        BadValue{listener + std::string("a = \"x\0y\"\n", 10),
                 ":3: control character 0x00 is not allowed"},
        BadValue{listener + "# bell \a\n", ":3: control character 0x07"},
        BadValue{listener + "[[ = \"x\"]]\n", "relayd.toml:3: "},
        BadValue{listener + "\u00e9t\u00e9 = 1\n", "relayd.toml:3: "},
        BadValue{listener + "\u00a7 4.5\n", "relayd.toml:3: "}));

TEST(ConfigParse, ReturnPathKeyIsReadFromHexInlineOrFromAFile) {
    auto none = parse_text(listener);
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_TRUE(none->return_path.bounce_domain.empty());  // no VERP unless asked for

    const std::string key_hex = "000102030405060708090a0b0c0d0e0F";
    auto inline_key = parse_text(listener +
                                 "[return_path]\nbounce_domain = \"Bounces.Example\"\n"
                                 "key = \"" +
                                 key_hex + "\"\n");
    ASSERT_TRUE(inline_key) << inline_key.error().message;
    EXPECT_EQ(inline_key->return_path.bounce_domain, "bounces.example");
    ASSERT_EQ(inline_key->return_path.key.size(), 16u);
    EXPECT_EQ(inline_key->return_path.key[1], '\x01');
    EXPECT_EQ(inline_key->return_path.key[15], '\x0f');

    std::string folder = testing::TempDir();
    std::string key_file = folder + "/verp_test.key";
    std::FILE* out = std::fopen(key_file.c_str(), "w");
    ASSERT_NE(out, nullptr);
    std::fputs((key_hex + "\n").c_str(), out);  // as `openssl rand -hex` writes it
    std::fclose(out);
    auto from_file = parse(listener +
                               "[return_path]\nbounce_domain = \"b.example\"\n"
                               "key_file = \"verp_test.key\"\n",
                           folder, folder + "/relayd.toml");
    ASSERT_TRUE(from_file) << from_file.error().message;
    EXPECT_EQ(from_file->return_path.key, inline_key->return_path.key);
    std::remove(key_file.c_str());
}

TEST(ConfigParse, ABounceListenerAndItsSection) {
    auto config = parse_text(listener + bounce_listener + return_path +
                             "[bounces]\nsoft_bounces_to_hard = 0\nmessage_index_s = 86400\n"
                             "complaint_local_parts = [\"FBL\", \"abuse\"]\n");
    ASSERT_TRUE(config) << config.error().message;
    ASSERT_EQ(config->listeners.size(), 2u);
    EXPECT_EQ(config->listeners[0].role, ListenerRole::relay);
    EXPECT_EQ(config->listeners[1].role, ListenerRole::bounce);
    EXPECT_EQ(config->bounces.soft_bounces_to_hard, 0u);
    EXPECT_EQ(config->bounces.message_index_s, 86400u);
    EXPECT_EQ(config->bounces.complaint_local_parts, (std::vector<std::string>{"fbl", "abuse"}));
    auto defaults = parse_text(listener);
    ASSERT_TRUE(defaults);
    EXPECT_EQ(defaults->bounces.soft_bounces_to_hard, 5u);
    EXPECT_EQ(defaults->bounces.message_index_s, 30u * 86400);
    EXPECT_EQ(defaults->bounces.complaint_local_parts, std::vector<std::string>{"complaints"});
}

TEST(ConfigParse, ReportsEveryProblemAtOnce) {
    std::string message = error_of(
        "[[listener]]\naddress = \"127.0.0.1:70000\"\n[limits]\nconnections_max = 0\n"
        "[[route]]\ndomain = \"example.com\"\nhost = \"mx:abc\"\n");
    EXPECT_NE(message.find("listener[0].address"), std::string::npos) << message;
    EXPECT_NE(message.find("limits.connections_max"), std::string::npos) << message;
    EXPECT_NE(message.find("route[0].host"), std::string::npos) << message;
}

TEST(ConfigParse, AcceptsValuesAtTheirBounds) {
    auto config = parse_text(
        "[server]\nhostname = \"relay.example.\"\nworkers = 256\n"
        "[[listener]]\naddress = \"127.0.0.1:1\"\n"
        "[[listener]]\naddress = \"[::1]:65535\"\n"
        "[limits]\nrecipients_per_message_max = 100000\nmessage_line_bytes_max = 0\n"
        "command_line_bytes_max = 512\n"
        "[timeouts]\ncommand_s = 1\ntransaction_s = 604800\n"
        "[delivery]\nport = 65535\nresolvers = [\"[::1]:53\"]\nretry_schedule_s = [1]\n"
        "[[route]]\ndomain = \"bücher.example\"\nhost = \"192.0.2.1:65535\"\n");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->listeners[1].address.port(), 65535);
    EXPECT_EQ(config->limits.recipients_per_message_max, 100000u);
    EXPECT_EQ(config->delivery.routes[0].endpoint.port, 65535);
    // Text in comments and strings may be any UTF-8, including the code points that tomlplusplus
    // 3.3 took for unreachable.
    EXPECT_TRUE(parse_text("# \u00e9t\u00e9 \u00a7 \ufb30 \ufe0f\n" + listener +
                           "[[route]]\ndomain = \"*\"\nhost = \"mx.example.com:25\"\n"
                           "auth_password = \"\u00e9t\u00e9 \u00a0\"\n"));
}

}  // namespace
}  // namespace relay::config

namespace relay::config {
namespace {

TEST(ConfigDane, OffByDefaultAndReadWhereItIsSet) {
    auto config = parse_text(listener);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_FALSE(config->delivery.dane);
    config = parse_text(listener +
                        "[delivery]\ndane = true\ntls = \"dane\"\n"
                        "[[route]]\ndomain = \"example.com\"\nhost = \"mx.example.net:25\"\n"
                        "tls = \"dane\"\n"
                        "[[shaping]]\ndomain = \"example.org\"\ndane = false\n");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_TRUE(config->delivery.dane);
    EXPECT_EQ(config->delivery.tls, TlsPolicy::dane);
    EXPECT_EQ(config->delivery.routes[0].tls, TlsPolicy::dane);
    ASSERT_EQ(config->delivery.shaping.size(), 1u);
    EXPECT_FALSE(config->delivery.shaping[0].dane);
}

TEST(ConfigDane, TlsDaneNeedsTrustedResolvers) {
    std::string message = error_of(listener + "[delivery]\ntls = \"dane\"\n");
    EXPECT_NE(message.find("delivery.tls: \"dane\" needs dane = true"), std::string::npos)
        << message;
    message = error_of(listener +
                       "[[route]]\ndomain = \"example.com\"\nhost = \"mx.example.net:25\"\n"
                       "tls = \"dane\"\n");
    EXPECT_NE(message.find("route to example.com has tls = \"dane\""), std::string::npos)
        << message;
    message = error_of(listener + "[[shaping]]\ndomain = \"example.org\"\ntls = \"dane\"\n");
    EXPECT_NE(message.find("shaping rule for example.org has tls = \"dane\""), std::string::npos)
        << message;
}

TEST(ConfigDane, ShapingMayDemandDaneOrMtaSts) {
    auto config = parse_text(listener +
                             "[delivery]\ndane = true\n"
                             "[[shaping]]\ndomain = \"example.org\"\ntls = \"dane\"\n"
                             "[[shaping]]\ndomain = \"example.net\"\ntls = \"mta-sts\"\n");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->delivery.shaping[0].tls, TlsPolicy::dane);
    EXPECT_EQ(config->delivery.shaping[1].tls, TlsPolicy::mta_sts);
}

}  // namespace
}  // namespace relay::config
