// message_index_test.cc -- the Message-ID index of sent mail: what an entry keeps, that a later
// entry for the same Message-ID replaces the earlier one (in both databases), that entries
// survive a reopen, and that pruning drops by age and then by count, oldest first.
#include "relay/store/message_index.h"

#include <gtest/gtest.h>

#include "store_test_support.h"

namespace relay::store {
namespace {

SentMessage sent(std::string message_id, std::uint64_t sent_s,
                 std::vector<std::string> recipients = {"a@example.net"}) {
    SentMessage message;
    message.message_id = std::move(message_id);
    message.queue_id = sent_s * 1000;
    message.resource = "acme/main";
    message.sender_domain = "acme.example";
    message.recipients = std::move(recipients);
    message.sent_s = sent_s;
    return message;
}

class MessageIndexTest : public testing::StoreFixture {
  protected:
    MessageIndex& index() { return store_->message_index(); }
    std::uint64_t count() {
        auto entries = index().sent_count();
        EXPECT_TRUE(entries);
        return entries ? entries.value() : 0;
    }
    bool has(std::string_view message_id) {
        auto found = index().find_sent(message_id);
        EXPECT_TRUE(found);
        return found && found.value().has_value();
    }
};

TEST_F(MessageIndexTest, AnEntryKeepsTheEnvelopeAndSurvivesAReopen) {
    std::vector<SentMessage> batch = {
        sent("<one@customer.example>", 100, {"a@example.net", "B@Example.NET"}),
        sent("<two@customer.example>", 101)};
    batch[1].resource = "";  // accepted without AUTH
    ASSERT_TRUE(index().add_sent(batch));
    reopen();
    auto found = index().find_sent("<one@customer.example>");
    ASSERT_TRUE(found);
    ASSERT_TRUE(found.value());
    EXPECT_EQ(found.value()->queue_id, 100000u);
    EXPECT_EQ(found.value()->resource, "acme/main");
    EXPECT_EQ(found.value()->sender_domain, "acme.example");
    EXPECT_EQ(found.value()->recipients,
              (std::vector<std::string>{"a@example.net", "B@Example.NET"}));
    EXPECT_EQ(found.value()->sent_s, 100u);
    auto second = index().find_sent("<two@customer.example>");
    ASSERT_TRUE(second && second.value());
    EXPECT_EQ(second.value()->resource, "");
    EXPECT_FALSE(has("<three@customer.example>"));
    EXPECT_FALSE(has(""));
}

TEST_F(MessageIndexTest, TooLongOrEmptyIdsAreNotIndexed) {
    std::vector<SentMessage> batch = {sent("", 1), sent("<" + std::string(300, 'x') + ">", 1)};
    ASSERT_TRUE(index().add_sent(batch));
    EXPECT_EQ(count(), 0u);
    EXPECT_FALSE(has("<" + std::string(300, 'x') + ">"));
}

TEST_F(MessageIndexTest, TheSameIdAgainReplacesTheEntryAndItsAge) {
    std::vector<SentMessage> first = {sent("<same@x>", 100)};
    ASSERT_TRUE(index().add_sent(first));
    std::vector<SentMessage> again = {sent("<same@x>", 500, {"new@example.net"})};
    ASSERT_TRUE(index().add_sent(again));
    EXPECT_EQ(count(), 1u);
    // Pruning by the first entry's age must not drop the replaced one.
    auto dropped = index().prune_sent(200, 10);
    ASSERT_TRUE(dropped);
    EXPECT_EQ(dropped.value(), 0u);
    auto found = index().find_sent("<same@x>");
    ASSERT_TRUE(found && found.value());
    EXPECT_EQ(found.value()->recipients, std::vector<std::string>{"new@example.net"});
}

TEST_F(MessageIndexTest, PruningDropsByAgeThenTheOldestPastTheCount) {
    std::vector<SentMessage> batch;
    for (std::uint64_t second = 1; second <= 10; ++second) {
        batch.push_back(sent("<m" + std::to_string(second) + "@x>", second * 10));
    }
    ASSERT_TRUE(index().add_sent(batch));
    auto dropped = index().prune_sent(35, 100);  // sent before 35 s: m1, m2, m3
    ASSERT_TRUE(dropped);
    EXPECT_EQ(dropped.value(), 3u);
    EXPECT_FALSE(has("<m3@x>"));
    EXPECT_TRUE(has("<m4@x>"));
    dropped = index().prune_sent(0, 4);  // seven left, four kept: the newest
    ASSERT_TRUE(dropped);
    EXPECT_EQ(dropped.value(), 3u);
    EXPECT_EQ(count(), 4u);
    EXPECT_FALSE(has("<m6@x>"));
    EXPECT_TRUE(has("<m7@x>"));
    EXPECT_TRUE(has("<m10@x>"));
}

}  // namespace
}  // namespace relay::store
