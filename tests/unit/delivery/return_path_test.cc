// return_path_test.cc -- the envelope sender of a delivery transaction: the client's, the
// resource's return path, or a VERP address whose token names the message and recipient.
#include "relay/delivery/return_path.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

#include "relay/bounce/verp.h"

namespace relay::delivery {
namespace {

const std::string key = "0123456789abcdef0123";

config::ReturnPath verp_config() {
    config::ReturnPath return_path;
    return_path.bounce_domain = "bounces.relay.example";
    return_path.key = key;
    return return_path;
}

spool::QueuedMessage message_to(std::initializer_list<const char*> recipients) {
    spool::QueuedMessage message;
    message.id = 0x0123456789abcdefULL;
    message.envelope.reverse_path = "news@shop.example";
    message.envelope.resource = "shop/main";
    for (const char* address : recipients) {
        message.recipients.push_back(spool::Recipient{address});
    }
    return message;
}

TEST(ReturnPath, WithoutABounceDomainTheClientsSenderGoesOutAndRecipientsShareATransaction) {
    spool::QueuedMessage message = message_to({"a@x.example", "b@x.example"});
    std::array<std::uint32_t, 2> both{0, 1};
    EXPECT_FALSE(uses_verp(config::ReturnPath{}, message));
    EXPECT_EQ(envelope_sender(config::ReturnPath{}, message, both), "news@shop.example");
}

TEST(ReturnPath, EachRecipientGetsATokenNamingTheMessageResourceAndRecipient) {
    spool::QueuedMessage message = message_to({"a@x.example", "B@x.example", "c@y.example"});
    ASSERT_TRUE(uses_verp(verp_config(), message));
    for (std::uint32_t index = 0; index < 3; ++index) {
        std::array<std::uint32_t, 1> one{index};
        std::string sender = envelope_sender(verp_config(), message, one);
        ASSERT_TRUE(sender.starts_with("bounces+")) << sender;
        ASSERT_TRUE(sender.ends_with("@bounces.relay.example")) << sender;
        std::array<std::string_view, 1> keys{key};
        auto token = bounce::decode_verp(keys, sender);
        ASSERT_TRUE(token) << token.error().message;
        EXPECT_EQ(token->queue_id, message.id);
        EXPECT_EQ(token->recipient_index, index);
        EXPECT_EQ(token->resource_fingerprint, bounce::verp_resource_fingerprint("shop/main"));
        EXPECT_EQ(token->recipient_fingerprint,
                  bounce::verp_recipient_fingerprint(message.recipients[index].address));
    }
}

TEST(ReturnPath, TheNullSenderAndRelaysOwnDsnsAreNeverRewritten) {
    spool::QueuedMessage null_sender = message_to({"a@x.example"});
    null_sender.envelope.reverse_path.clear();
    std::array<std::uint32_t, 1> first{0};
    EXPECT_FALSE(uses_verp(verp_config(), null_sender));
    EXPECT_EQ(envelope_sender(verp_config(), null_sender, first), "");
    spool::QueuedMessage dsn = message_to({"a@x.example"});
    dsn.envelope.reverse_path.clear();
    dsn.envelope.origin = spool::Origin::dsn;
    EXPECT_EQ(envelope_sender(verp_config(), dsn, first), "");
}

TEST(ReturnPath, AResourcesOwnReturnPathWinsOverVerpAndIsUsedAsItIs) {
    spool::QueuedMessage message = message_to({"a@x.example", "b@x.example"});
    message.envelope.return_path = "Bounce-Handler@returns.example.net";
    std::array<std::uint32_t, 2> both{0, 1};
    EXPECT_FALSE(uses_verp(verp_config(), message));  // recipients may share a transaction
    EXPECT_EQ(envelope_sender(verp_config(), message, both), "Bounce-Handler@returns.example.net");
    EXPECT_EQ(envelope_sender(config::ReturnPath{}, message, both),
              "Bounce-Handler@returns.example.net");
}

TEST(ReturnPath, ARecipientIndexTheTokenCannotHoldKeepsTheClientsSender) {
    spool::QueuedMessage message = message_to({});
    message.recipients.resize(bounce::verp_recipient_index_max + 2,
                              spool::Recipient{"z@x.example"});
    std::array<std::uint32_t, 1> last{bounce::verp_recipient_index_max + 1};
    EXPECT_EQ(envelope_sender(verp_config(), message, last), "news@shop.example");
}

}  // namespace
}  // namespace relay::delivery
