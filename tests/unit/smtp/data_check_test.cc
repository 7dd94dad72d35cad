// ServerHooks::check_data: a refusal of the whole message at DATA or the first BDAT (the stop
// list's reject_message policy) ends the transaction, takes no data as message, keeps the
// session in step and does not count as a client error.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "relay/smtp/server_session.h"

namespace relay::smtp {
namespace {

class StringSink final : public message::Sink {
  public:
    void append(std::string_view bytes) override { stored.append(bytes); }
    std::string stored;
};

// Refuses a message with a recipient at listed.example; records what reached it.
class Hooks final : public ServerHooks {
  public:
    message::Sink& open_message(const Transaction&) override {
        ++opened;
        return sink;
    }
    void commit_message(const Transaction&, const message::MessagePass&) override { ++committed; }
    void abandon_message() override {}
    std::optional<PolicyReply> check_data(const Transaction& transaction) override {
        ++checks;
        seen = transaction.recipients;
        for (const std::string& recipient : transaction.recipients) {
            if (recipient.ends_with("@listed.example")) {
                return PolicyReply{554, "5.7.1", "listed: " + recipient};
            }
        }
        return std::nullopt;
    }

    StringSink sink;
    std::vector<std::string> seen;
    int opened = 0;
    int committed = 0;
    int checks = 0;
};

class DataCheckTest : public ::testing::Test {
  protected:
    DataCheckTest() {
        settings.hostname = "relay.test";
        settings.errors_per_session_max = 2;
        session.emplace(settings, hooks);
        session->start();
        take();
        feed("EHLO c\r\n");
    }
    std::string feed(std::string input) {
        session->receive(std::span<char>(input.data(), input.size()));
        return take();
    }
    std::string take() {
        std::string out;
        out.swap(session->output());
        return out;
    }

    ServerSettings settings;
    Hooks hooks;
    std::optional<ServerSession> session;
};

TEST_F(DataCheckTest, ARefusedDataEndsTheTransactionWithTheHooksReply) {
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<x@ok.example>\r\nRCPT TO:<y@listed.example>\r\n");
    EXPECT_EQ(feed("DATA\r\n"), "554 5.7.1 listed: y@listed.example\r\n");
    EXPECT_EQ(hooks.seen, (std::vector<std::string>{"x@ok.example", "y@listed.example"}));
    EXPECT_EQ(hooks.opened, 0);
    // The transaction is over: the client starts again with MAIL.
    EXPECT_EQ(feed("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    // Three refusals with an error budget of two: policy refusals are not client errors.
    for (int round = 0; round < 3; ++round) {
        feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<y@listed.example>\r\n");
        EXPECT_EQ(feed("DATA\r\n"), "554 5.7.1 listed: y@listed.example\r\n");
    }
    EXPECT_FALSE(session->wants_close());
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<x@ok.example>\r\n");
    EXPECT_EQ(feed("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    feed("Subject: s\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(hooks.committed, 1);
}

TEST_F(DataCheckTest, MessageTextPipelinedAfterARefusedDataClosesTheSession) {
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<y@listed.example>\r\n");
    std::string replies = feed("DATA\r\nMAIL FROM:<evil@example.com>\r\n");
    EXPECT_EQ(replies.substr(0, 38), "554 5.7.1 listed: y@listed.example\r\n42");
    EXPECT_TRUE(session->wants_close());
}

TEST_F(DataCheckTest, ARefusedFirstBdatIsReadAndDroppedAndLaterChunksNeedMail) {
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<y@listed.example>\r\n");
    EXPECT_EQ(feed("BDAT 5\r\nHELLO"), "554 5.7.1 listed: y@listed.example\r\n");
    EXPECT_EQ(hooks.opened, 0);
    EXPECT_EQ(feed("BDAT 4 LAST\r\nNOOP"), "503 5.5.1 Error: need MAIL command\r\n");
    EXPECT_EQ(feed("NOOP\r\n"), "250 2.0.0 Ok\r\n");  // in step: the chunk was not a command
}

TEST_F(DataCheckTest, OnlyTheFirstBdatIsChecked) {
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<x@ok.example>\r\n");
    EXPECT_EQ(feed("BDAT 3\r\nA\r\n"), "250 2.0.0 Ok: 3 octets received\r\n");
    EXPECT_EQ(feed("BDAT 3 LAST\r\nB\r\n"), "");
    EXPECT_EQ(hooks.checks, 1);
    EXPECT_EQ(hooks.committed, 1);
}

}  // namespace
}  // namespace relay::smtp
