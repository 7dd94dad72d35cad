// bounce_listener_test.cc -- which recipients a bounce listener takes (a verified token, a
// complaint address, postmaster) and which reply the others get; and that the report sink keeps
// a bounded prefix of a larger report.
#include "bounce_listener.h"

#include <gtest/gtest.h>

#include "relay/bounce/verp.h"

namespace relay::ingress::internal {
namespace {

config::Config bounce_config() {
    config::Config config;
    config.return_path.bounce_domain = "bounces.example.net";
    config.return_path.key = std::string(32, 'k');
    return config;
}

std::string token_address(const std::string& key) {
    bounce::VerpMessage message;
    message.queue_id = 42;
    message.resource = "acme/main";
    message.recipient = "gone@example.com";
    auto address = bounce::verp_address(key, message, "bounces.example.net");
    EXPECT_TRUE(address);
    return address.value();
}

std::string reply_of(const std::optional<smtp::PolicyReply>& reply) {
    return reply ? std::to_string(reply->code) + " " + reply->enhanced : "accepted";
}

TEST(BounceListener, TakesVerifiedTokensComplaintAddressesAndPostmaster) {
    config::Config config = bounce_config();
    std::string address = token_address(config.return_path.key);
    EXPECT_EQ(reply_of(check_bounce_recipient(config, address)), "accepted");
    // Some MTAs change the case of the local part or the domain.
    std::string upper = address;
    for (char& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(reply_of(check_bounce_recipient(config, upper)), "accepted");
    EXPECT_EQ(reply_of(check_bounce_recipient(config, "complaints@bounces.example.net")),
              "accepted");
    EXPECT_EQ(reply_of(check_bounce_recipient(config, "Postmaster@bounces.example.net")),
              "accepted");
}

TEST(BounceListener, RefusesOtherDomainsOtherLocalPartsAndForgedTokens) {
    config::Config config = bounce_config();
    std::string address = token_address(config.return_path.key);
    std::string local = address.substr(0, address.find('@'));
    EXPECT_EQ(reply_of(check_bounce_recipient(config, local + "@example.net")), "550 5.1.1");
    EXPECT_EQ(reply_of(check_bounce_recipient(config, "ann@bounces.example.net")), "550 5.1.1");
    EXPECT_EQ(reply_of(check_bounce_recipient(config, "bounces+short@bounces.example.net")),
              "550 5.1.1");
    // One character of the token changed: the shape is right, the tag fails.
    std::string tampered = address;
    std::size_t at = std::string("bounces+").size() + 10;
    tampered[at] = tampered[at] == 'a' ? 'b' : 'a';
    EXPECT_EQ(reply_of(check_bounce_recipient(config, tampered)), "550 5.7.1");
    // Made with another key.
    EXPECT_EQ(reply_of(check_bounce_recipient(config, token_address(std::string(32, 'x')))),
              "550 5.7.1");
}

TEST(BounceListener, TheSinkKeepsABoundedPrefix) {
    ReportSink sink(10);
    sink.append("0123456");
    sink.append("789abc");
    sink.append("def");
    EXPECT_TRUE(sink.truncated());
    EXPECT_EQ(sink.received_bytes(), 16u);
    EXPECT_EQ(sink.take(), "0123456789");
    ReportSink exact(4);
    exact.append("abcd");
    EXPECT_FALSE(exact.truncated());
}

}  // namespace
}  // namespace relay::ingress::internal
