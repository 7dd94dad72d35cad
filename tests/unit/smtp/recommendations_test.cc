// The sending recommendations' note: when it is due, what it says, and the replies that carry it
// and the content refusals of the charset scan, through the server session.
#include "relay/smtp/recommendations.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "relay/smtp/server_session.h"

namespace relay::smtp {
namespace {

TEST(RecommendationNote, WithinTheRecommendationsThereIsNone) {
    const Recommendations defaults;
    EXPECT_EQ(recommendation_note(5, 10'000'000, defaults), "");
    EXPECT_EQ(recommendation_note(1, 0, defaults), "");
}

TEST(RecommendationNote, SaysWhatAndWhatIsRecommended) {
    const Recommendations defaults;
    EXPECT_EQ(recommendation_note(7, 100, defaults),
              "note: 7 recipients, we recommend at most 5 per message");
    EXPECT_EQ(recommendation_note(1, 11'534'336, defaults),
              "note: 11.5 MB, we recommend at most 10 MB per message");
    // Just over the limit never reads as equal to it.
    EXPECT_EQ(recommendation_note(1, 10'000'001, defaults),
              "note: 10.0 MB, we recommend at most 10 MB per message");
    EXPECT_EQ(recommendation_note(6, 20'000'000, defaults),
              "note: 6 recipients, we recommend at most 5 per message; "
              "note: 20 MB, we recommend at most 10 MB per message");
}

TEST(RecommendationNote, ZeroTurnsEachOff) {
    Recommendations off;
    off.recipients_per_message_max = 0;
    off.message_bytes_max = 0;
    EXPECT_EQ(recommendation_note(1000, 1'000'000'000, off), "");
    Recommendations custom;
    custom.message_bytes_max = 2'500'000;
    EXPECT_EQ(recommendation_note(1, 2'600'000, custom),
              "note: 2.6 MB, we recommend at most 2.5 MB per message");
}

class NullSink final : public message::Sink {
  public:
    void append(std::string_view) override {}
};

class CommitHooks final : public ServerHooks {
  public:
    message::Sink& open_message(const Transaction&) override { return sink; }
    void commit_message(const Transaction&, const message::MessagePass&) override { ++committed; }
    void abandon_message() override {}
    NullSink sink;
    int committed = 0;
};

// One transaction with `recipients` recipients and `message` as the data; the replies after DATA.
std::string transaction(ServerSession& session, CommitHooks& hooks, int recipients,
                        std::string message) {
    std::string input = "EHLO c\r\nMAIL FROM:<a@example.com>\r\n";
    for (int index = 0; index < recipients; ++index) {
        input += "RCPT TO:<r" + std::to_string(index) + "@example.net>\r\n";
    }
    input += "DATA\r\n";
    session.receive(std::span<char>(input.data(), input.size()));
    session.output().clear();
    message += ".\r\n";
    session.receive(std::span<char>(message.data(), message.size()));
    if (hooks.committed > 0) {
        session.commit_done("ID");
    }
    std::string out;
    out.swap(session.output());
    return out;
}

TEST(ServerSessionReplies, TheFinal250CarriesTheNote) {
    ServerSettings settings;
    CommitHooks hooks;
    ServerSession session(settings, hooks);
    session.start();
    EXPECT_EQ(transaction(session, hooks, 6, "Subject: x\r\n\r\nbody\r\n"),
              "250 2.0.0 Ok: queued as ID; note: 6 recipients, we recommend at most 5 per "
              "message\r\n");
}

TEST(ServerSessionReplies, CharsetRefusalsSayWhatAndWhere) {
    ServerSettings settings;
    CommitHooks hooks;
    ServerSession session(settings, hooks);
    session.start();
    EXPECT_EQ(transaction(session, hooks, 1,
                          "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n"
                          "--b\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\ny\r\n"
                          "--b--\r\n"),
              "554 5.6.0 only UTF-8 is accepted: charset windows-1251 in part 2\r\n");
    EXPECT_EQ(transaction(session, hooks, 1, "Subject: caf\xE9\r\n\r\nx\r\n"),
              "554 5.6.0 Error: message content is not valid UTF-8 in the header\r\n");
    EXPECT_EQ(hooks.committed, 0);
}

TEST(ServerSessionReplies, NestingPastTheLimitIsRefused) {
    ServerSettings settings;
    settings.pass.mime_depth_max = 1;
    CommitHooks hooks;
    ServerSession session(settings, hooks);
    session.start();
    EXPECT_EQ(transaction(session, hooks, 1,
                          "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
                          "Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nx\r\n"
                          "--i--\r\n--o--\r\n"),
              "554 5.6.0 Error: MIME parts nested more than 1 deep, in part 1\r\n");
}

}  // namespace
}  // namespace relay::smtp
