// Which messages an operator's queue command (retry, delete, bounce) applies to.
#include <gtest/gtest.h>

#include "relay/delivery/delivery.h"

namespace relay::delivery {
namespace {

spool::QueuedMessage sent_by(const std::string& resource) {
    spool::QueuedMessage message;
    message.envelope.resource = resource;
    message.recipients.push_back(spool::Recipient{"r@example.net"});
    return message;
}

TEST(QueueSelector, ResourceKeepsOnlyThatResourcesMessages) {
    QueueSelector selector;
    selector.resource = "acme/newsletter";
    EXPECT_TRUE(selector.matches_message(sent_by("acme/newsletter")));
    EXPECT_TRUE(selector.matches_message(sent_by("ACME/Newsletter")));  // as AUTH compares
    EXPECT_FALSE(selector.matches_message(sent_by("acme/billing")));
    EXPECT_FALSE(selector.matches_message(sent_by("acme/newsletter2")));
    EXPECT_FALSE(selector.matches_message(sent_by("")));  // accepted without AUTH
}

TEST(QueueSelector, NoResourceKeepsEveryMessage) {
    QueueSelector selector;
    selector.domain = "example.net";
    EXPECT_TRUE(selector.matches_message(sent_by("acme/newsletter")));
    EXPECT_TRUE(selector.matches_message(sent_by("")));
}

}  // namespace
}  // namespace relay::delivery
