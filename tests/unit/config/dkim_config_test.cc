// dkim_config_test.cc -- [dkim]: the defaults, the signed header list kept lower case and
// refused with its key named when it cannot sign (no From, a name twice, not a field name), and
// the bounds of the lifetime and the signing thread's settings; on SIGHUP the list and the
// lifetime apply, the signing threads wait for a restart.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "relay/config/config.h"
#include "relay/config/reload.h"

namespace relay::config {
namespace {

const std::string listener = "[[listener]]\naddress = \"127.0.0.1:2525\"\n";

Result<Config> parse_dkim(const std::string& table) {
    return parse(listener + "[dkim]\n" + table, "/etc/relay", "/etc/relay/relayd.toml");
}

std::string error_of(const std::string& table) {
    auto config = parse_dkim(table);
    if (config) {
        ADD_FAILURE() << "loaded:\n" << table;
        return "";
    }
    return config.error().message;
}

TEST(DkimConfig, DefaultsAreTheIssuesListNoExpirationAndOneThread) {
    auto config = parse(listener, "/etc/relay", "/etc/relay/relayd.toml");
    ASSERT_TRUE(config) << config.error().message;
    const std::vector<std::string> expected = {"from",
                                               "to",
                                               "cc",
                                               "subject",
                                               "date",
                                               "message-id",
                                               "mime-version",
                                               "content-type",
                                               "content-transfer-encoding",
                                               "reply-to",
                                               "in-reply-to",
                                               "references",
                                               "list-unsubscribe",
                                               "list-unsubscribe-post"};
    EXPECT_EQ(config->dkim.signed_headers, expected);
    EXPECT_EQ(config->dkim.expiration_s, 0u);
    EXPECT_EQ(config->dkim.signing_threads, 0u);  // one per worker
    EXPECT_EQ(config->dkim.signing_queue_max, 1024u);
}

TEST(DkimConfig, SignedHeadersAreKeptLowerCaseInTheirOrder) {
    auto config = parse_dkim(
        "signed_headers = [\"Subject\", \"FROM\", \"X-Campaign\"]\n"
        "expiration_s = 604800\nsigning_threads = 4\nsigning_queue_max = 1\n");
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->dkim.signed_headers,
              (std::vector<std::string>{"subject", "from", "x-campaign"}));
    EXPECT_EQ(config->dkim.expiration_s, 604800u);
    EXPECT_EQ(config->dkim.signing_threads, 4u);
    EXPECT_EQ(config->dkim.signing_queue_max, 1u);
}

TEST(DkimConfig, SignedHeadersWithoutFromAreRefused) {
    EXPECT_EQ(error_of("signed_headers = [\"To\", \"Subject\"]\n"),
              "/etc/relay/relayd.toml:4: dkim.signed_headers: must include From (RFC 6376 §5.4)");
    EXPECT_NE(error_of("signed_headers = []\n").find("dkim.signed_headers: must include From"),
              std::string::npos);
}

TEST(DkimConfig, BadSignedHeadersAreRefusedNamingTheKey) {
    EXPECT_NE(error_of("signed_headers = [\"From\", \"from\"]\n").find("names from twice"),
              std::string::npos);
    EXPECT_NE(error_of("signed_headers = [\"From\", \"X Bad\"]\n")
                  .find("dkim.signed_headers: \"X Bad\" is not a header field name"),
              std::string::npos);
    EXPECT_NE(error_of("signed_headers = [\"From\", \"Subject:\"]\n")
                  .find("\"Subject:\" is not a header field name"),
              std::string::npos);
    EXPECT_NE(error_of("signed_headers = [\"From\", \"\"]\n").find("is not a header field name"),
              std::string::npos);
    EXPECT_NE(error_of("signed_headers = \"From\"\n")
                  .find("dkim.signed_headers: must be an array of strings"),
              std::string::npos);
    std::string many = "signed_headers = [\"From\"";
    for (int index = 0; index < 64; ++index) {
        many += ", \"X-" + std::to_string(index) + "\"";
    }
    EXPECT_NE(error_of(many + "]\n").find("must name at most 64 fields"), std::string::npos);
}

TEST(DkimConfig, NumbersOutOfBoundsAreRefusedNamingTheKey) {
    EXPECT_NE(error_of("expiration_s = 59\n").find("dkim.expiration_s: must be 0 (no limit) or"),
              std::string::npos);
    EXPECT_NE(error_of("expiration_s = 31622401\n").find("dkim.expiration_s"), std::string::npos);
    EXPECT_TRUE(parse_dkim("expiration_s = 60\n"));
    EXPECT_TRUE(parse_dkim("expiration_s = 31622400\n"));
    EXPECT_TRUE(parse_dkim("signing_threads = 0\n"));  // one per worker
    EXPECT_NE(error_of("signing_threads = -1\n").find("dkim.signing_threads: must be between 0"),
              std::string::npos);
    EXPECT_NE(error_of("signing_threads = 65\n").find("dkim.signing_threads"), std::string::npos);
    EXPECT_NE(error_of("signing_queue_max = 0\n").find("dkim.signing_queue_max"),
              std::string::npos);
    EXPECT_NE(error_of("signing_pool = 2\n").find("dkim.signing_pool: unknown key"),
              std::string::npos);
}

TEST(DkimConfig, ListAndLifetimeReloadThreadsWaitForARestart) {
    auto running = parse_dkim("signing_threads = 1\n");  // a fixed number, as before
    auto loaded = parse_dkim(
        "signed_headers = [\"From\", \"Subject\"]\nexpiration_s = 86400\n"
        "signing_threads = 2\nsigning_queue_max = 10\n");
    ASSERT_TRUE(running && loaded);
    Reload reload = prepare_reload(*running, *loaded);
    EXPECT_EQ(reload.config.dkim.signed_headers, (std::vector<std::string>{"from", "subject"}));
    EXPECT_EQ(reload.config.dkim.expiration_s, 86400u);
    EXPECT_EQ(reload.config.dkim.signing_threads, 1u);  // the running value stays
    EXPECT_EQ(reload.config.dkim.signing_queue_max, 1024u);
    auto has = [](const std::vector<std::string>& names, const char* name) {
        return std::find(names.begin(), names.end(), name) != names.end();
    };
    EXPECT_TRUE(has(reload.applied, "dkim.signed_headers"));
    EXPECT_TRUE(has(reload.applied, "dkim.expiration_s"));
    EXPECT_TRUE(has(reload.restart, "dkim.signing_threads"));
    EXPECT_TRUE(has(reload.restart, "dkim.signing_queue_max"));
}

}  // namespace
}  // namespace relay::config
