// reply_test.cc -- unit tests of writing replies (append_reply) and reading them back from a
// server (ReplyReader): single and multi-line replies, enhanced codes, input split at every
// octet, pipelined replies, and the bounds that make a reader broken.
#include "relay/smtp/reply.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace relay::smtp {
namespace {

// What a reader made of a stream: the replies in order, and whether it broke.
struct ReadResult {
    std::vector<Reply> replies;
    bool broken = false;
    std::string reason;
};

// Feeds `chunks` in order, taking each reply as soon as it is complete, like a client would.
ReadResult read_chunks(const std::vector<std::string_view>& chunks) {
    ReadResult result;
    ReplyReader reader;
    for (std::string_view chunk : chunks) {
        // Bounded: each round consumes input or takes a reply.
        for (int round = 0; round < 10000 && !chunk.empty(); ++round) {
            const std::size_t consumed = reader.feed(chunk);
            EXPECT_LE(consumed, chunk.size());
            chunk.remove_prefix(consumed);
            if (auto reply = reader.take()) {
                result.replies.push_back(std::move(*reply));
            } else if (consumed == 0) {
                ADD_FAILURE() << "reader made no progress";
                break;
            }
        }
    }
    result.broken = reader.broken();
    result.reason = reader.broken_reason();
    return result;
}

ReadResult read_all(std::string_view stream) {
    return read_chunks({stream});
}

Reply read_one(std::string_view stream) {
    ReadResult result = read_all(stream);
    EXPECT_FALSE(result.broken) << result.reason;
    if (result.replies.size() != 1) {
        ADD_FAILURE() << "expected one reply, got " << result.replies.size();
        return Reply{};
    }
    return result.replies.front();
}

std::string broken_reason(std::string_view stream) {
    ReadResult result = read_all(stream);
    EXPECT_TRUE(result.broken) << "not broken: " << stream;
    EXPECT_TRUE(result.replies.empty());
    return result.reason;
}

bool same(const Reply& a, const Reply& b) {
    return a.code == b.code && a.enhanced == b.enhanced && a.text == b.text;
}

// --- single-line replies ---------------------------------------------------------------------

TEST(ReplyReaderTest, SingleLine) {
    const Reply reply = read_one("220 mx.example.com ESMTP ready\r\n");
    EXPECT_EQ(reply.code, 220);
    EXPECT_EQ(reply.enhanced, "");
    EXPECT_EQ(reply.text, "mx.example.com ESMTP ready");
    EXPECT_TRUE(reply.positive());
    EXPECT_FALSE(reply.transient());
    EXPECT_FALSE(reply.permanent());
}

TEST(ReplyReaderTest, EnhancedCodeIsTakenFromTheText) {
    const Reply reply = read_one("250 2.0.0 Ok: queued as 4Xk2Lm0Qz1\r\n");
    EXPECT_EQ(reply.code, 250);
    EXPECT_EQ(reply.enhanced, "2.0.0");
    EXPECT_EQ(reply.text, "Ok: queued as 4Xk2Lm0Qz1");
    EXPECT_EQ(read_one("550 5.1.1\r\n").enhanced, "5.1.1");
    EXPECT_EQ(read_one("550 5.1.1\r\n").text, "");
    EXPECT_EQ(read_one("452 4.5.3 Too many recipients\r\n").enhanced, "4.5.3");
    EXPECT_EQ(read_one("554 5.123.456 x\r\n").enhanced, "5.123.456");
}

TEST(ReplyReaderTest, WhatIsNotAnEnhancedCodeStaysInTheText) {
    for (const char* line :
         {"250 5.0.0 class differs from the reply", "354 3.0.0 no codes on 3xx",
          "550 5.1234.1 subject too long", "550 5.1.1234 detail too long", "550 5..1 empty",
          "550 5.1.1x glued", "550 5.1. missing", "550 5.1 short", "550 55.1.1 x", "550 x5.1.1",
          "550  5.1.1 leading space"}) {
        const Reply reply = read_one(std::string(line) + "\r\n");
        EXPECT_EQ(reply.enhanced, "") << line;
        EXPECT_EQ(reply.text, std::string_view(line).substr(4)) << line;
    }
}

TEST(ReplyReaderTest, BareCodeAndEmptyText) {
    Reply reply = read_one("250\r\n");
    EXPECT_EQ(reply.code, 250);
    EXPECT_EQ(reply.text, "");
    reply = read_one("250 \r\n");
    EXPECT_EQ(reply.text, "");
}

TEST(ReplyReaderTest, BareLineFeedIsAccepted) {
    const Reply reply = read_one("421 4.3.2 Service shutting down\n");
    EXPECT_EQ(reply.code, 421);
    EXPECT_TRUE(reply.transient());
    EXPECT_EQ(reply.text, "Service shutting down");
}

TEST(ReplyReaderTest, TextKeepsInnerCarriageReturnsAndTabs) {
    EXPECT_EQ(read_one("250 a\rb\tc\r\n").text, "a\rb\tc");
    EXPECT_EQ(read_one("250 a\r\r\n").text, "a\r");
}

// --- multi-line replies ----------------------------------------------------------------------

TEST(ReplyReaderTest, MultiLineEhlo) {
    const Reply reply = read_one(
        "250-mx.example.com Hello client.example.net\r\n"
        "250-SIZE 10240000\r\n"
        "250-8BITMIME\r\n"
        "250-\r\n"
        "250 SMTPUTF8\r\n");
    EXPECT_EQ(reply.code, 250);
    EXPECT_EQ(reply.enhanced, "");
    EXPECT_EQ(reply.text,
              "mx.example.com Hello client.example.net\nSIZE 10240000\n8BITMIME\n\n"
              "SMTPUTF8");
}

TEST(ReplyReaderTest, MultiLineEnhancedCodeIsStrippedFromEveryLine) {
    const Reply reply = read_one(
        "550-5.1.1 The email account that you tried to reach does not exist.\r\n"
        "550-5.1.1 Please try double-checking the recipient's email address.\r\n"
        "550 5.1.1  https://support.example.com/answer/6596\r\n");
    EXPECT_EQ(reply.code, 550);
    EXPECT_TRUE(reply.permanent());
    EXPECT_EQ(reply.enhanced, "5.1.1");
    EXPECT_EQ(reply.text,
              "The email account that you tried to reach does not exist.\n"
              "Please try double-checking the recipient's email address.\n"
              " https://support.example.com/answer/6596");
    EXPECT_EQ(reply.summary(),
              "550 5.1.1 The email account that you tried to reach does not exist.");
}

TEST(ReplyReaderTest, ContinuationLinesKeepTextWhenTheFirstLineHasNoEnhancedCode) {
    const Reply reply = read_one("550-first\r\n550 5.1.1 second\r\n");
    EXPECT_EQ(reply.enhanced, "");
    EXPECT_EQ(reply.text, "first\n5.1.1 second");
}

TEST(ReplyReaderTest, ContinuationWithoutEnhancedCodeKeepsItsSpaces) {
    const Reply reply = read_one("451-4.7.1 Greylisted\r\n451   retry later\r\n");
    EXPECT_EQ(reply.text, "Greylisted\n  retry later");
}

TEST(ReplyReaderTest, MultiLineReplyMustRepeatItsCode) {
    const std::string reason = broken_reason("250-first\r\n550 second\r\n");
    EXPECT_NE(reason.find("250"), std::string::npos) << reason;
    EXPECT_NE(reason.find("550"), std::string::npos) << reason;
    broken_reason("250-first\r\n251-second\r\n250 third\r\n");
}

TEST(ReplyReaderTest, LinesMaxBoundsAReply) {
    std::string at_limit;
    for (std::size_t i = 1; i < ReplyReader::lines_max; ++i) {
        at_limit += "250-line\r\n";
    }
    const Reply reply = read_one(at_limit + "250 last\r\n");
    EXPECT_EQ(std::count(reply.text.begin(), reply.text.end(), '\n'),
              static_cast<long>(ReplyReader::lines_max - 1));
    const std::string reason = broken_reason(at_limit + "250-one too many\r\n250 last\r\n");
    EXPECT_NE(reason.find("100 lines"), std::string::npos) << reason;
}

// --- malformed input -------------------------------------------------------------------------

TEST(ReplyReaderTest, MalformedLinesBreakTheReader) {
    for (const char* stream :
         {"hello\r\n", "\r\n", "\n", "25\r\n", "2500 x\r\n", "250x\r\n", "250_x\r\n", "199 x\r\n",
          "600 x\r\n", "160 x\r\n", "260 x\r\n", "25a x\r\n", " 250 x\r\n",
          "HTTP/1.1 400 Bad Request\r\n", "+OK POP3 ready\r\n", "* OK IMAP4rev1\r\n",
          "\x16\x03\x01\x02\x01\r\n"}) {
        const std::string reason = broken_reason(stream);
        EXPECT_NE(reason.find("malformed reply line"), std::string::npos) << reason;
    }
}

TEST(ReplyReaderTest, BrokenReasonQuotesAPrintableExcerpt) {
    const std::string reason =
        broken_reason("HTTP/1.1 400 Bad\x01Request" + std::string(200, 'x') + "\r\n");
    EXPECT_NE(reason.find("\"HTTP/1.1 400 Bad?Request"), std::string::npos) << reason;
    EXPECT_LT(reason.size(), 120U);
}

TEST(ReplyReaderTest, LineBytesMaxBoundsALine) {
    const std::string text_at_limit(ReplyReader::line_bytes_max - 4, 't');
    const Reply reply = read_one("250 " + text_at_limit + "\r\n");
    EXPECT_EQ(reply.text.size(), ReplyReader::line_bytes_max - 4);
    EXPECT_EQ(read_one("250 " + text_at_limit + "\n").text.size(), text_at_limit.size());
    const std::string over = "250 " + text_at_limit + "t\r\n";
    EXPECT_NE(broken_reason(over).find("longer than 2048"), std::string::npos);
    // The same when the line arrives in pieces, and when it never ends.
    ReadResult split =
        read_chunks({std::string_view(over).substr(0, 1000), std::string_view(over).substr(1000)});
    EXPECT_TRUE(split.broken);
    ReadResult split_at_limit =
        read_chunks({std::string_view("250 " + text_at_limit + "\r\n").substr(0, 2049),
                     std::string_view("\n")});
    EXPECT_FALSE(split_at_limit.broken) << split_at_limit.reason;
    EXPECT_TRUE(read_all(std::string(5000, '2')).broken);
    ReplyReader reader;
    EXPECT_EQ(reader.feed(std::string(ReplyReader::line_bytes_max, '2')),
              ReplyReader::line_bytes_max);
    EXPECT_FALSE(reader.broken());
    EXPECT_EQ(reader.feed("22"), 2U);
    EXPECT_TRUE(reader.broken());
}

TEST(ReplyReaderTest, BrokenReaderDiscardsInputAndYieldsNothing) {
    ReplyReader reader;
    EXPECT_EQ(reader.feed("bogus\r\n250 ok\r\n"), 15U);
    EXPECT_TRUE(reader.broken());
    EXPECT_EQ(reader.feed("250 ok\r\n"), 8U);
    EXPECT_FALSE(reader.take().has_value());
}

// --- framing across feeds --------------------------------------------------------------------

constexpr std::string_view two_replies =
    "250-mx.example.com\r\n250-PIPELINING\r\n250 2.0.0 ok\r\n"
    "550-5.7.1 Message rejected\r\n550 5.7.1 as spam\n";

TEST(ReplyReaderTest, EverySplitPointGivesTheSameReplies) {
    const ReadResult whole = read_all(two_replies);
    ASSERT_FALSE(whole.broken) << whole.reason;
    ASSERT_EQ(whole.replies.size(), 2U);
    // The first line has no enhanced code, so the last line's stays in the text.
    EXPECT_EQ(whole.replies[0].enhanced, "");
    EXPECT_EQ(whole.replies[0].text, "mx.example.com\nPIPELINING\n2.0.0 ok");
    EXPECT_EQ(whole.replies[1].summary(), "550 5.7.1 Message rejected");
    for (std::size_t first = 0; first <= two_replies.size(); ++first) {
        for (std::size_t second = first; second <= two_replies.size(); second += 7) {
            const ReadResult split = read_chunks({two_replies.substr(0, first),
                                                  two_replies.substr(first, second - first),
                                                  two_replies.substr(second)});
            ASSERT_FALSE(split.broken) << first << " " << second;
            ASSERT_EQ(split.replies.size(), 2U) << first << " " << second;
            EXPECT_TRUE(same(split.replies[0], whole.replies[0])) << first << " " << second;
            EXPECT_TRUE(same(split.replies[1], whole.replies[1])) << first << " " << second;
        }
    }
}

TEST(ReplyReaderTest, OneOctetAtATime) {
    std::vector<std::string_view> octets;
    for (std::size_t i = 0; i < two_replies.size(); ++i) {
        octets.push_back(two_replies.substr(i, 1));
    }
    const ReadResult result = read_chunks(octets);
    ASSERT_EQ(result.replies.size(), 2U);
    EXPECT_TRUE(same(result.replies[1], read_all(two_replies).replies[1]));
}

TEST(ReplyReaderTest, CarriageReturnAndLineFeedInDifferentFeeds) {
    const ReadResult result = read_chunks({"250 ok\r", "\n"});
    ASSERT_EQ(result.replies.size(), 1U);
    EXPECT_EQ(result.replies[0].text, "ok");
}

TEST(ReplyReaderTest, FeedStopsAtTheEndOfEachReply) {
    ReplyReader reader;
    const std::string_view stream = "250 2.1.0 sender ok\r\n250 2.1.5 rcpt ok\r\n354 go ahead\r\n";
    std::size_t consumed = reader.feed(stream);
    EXPECT_EQ(consumed, 21U);
    EXPECT_EQ(reader.feed(stream.substr(consumed)), 0U);  // not taken yet
    std::optional<Reply> reply = reader.take();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->text, "sender ok");
    EXPECT_FALSE(reader.take().has_value());
    consumed += reader.feed(stream.substr(consumed));
    EXPECT_EQ(consumed, 40U);
    EXPECT_EQ(reader.take()->enhanced, "2.1.5");
    consumed += reader.feed(stream.substr(consumed));
    EXPECT_EQ(consumed, stream.size());
    reply = reader.take();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->code, 354);
    EXPECT_EQ(reply->text, "go ahead");
}

TEST(ReplyReaderTest, IncompleteReplyYieldsNothing) {
    ReplyReader reader;
    EXPECT_EQ(reader.feed("250-first\r\n250 sec"), 18U);
    EXPECT_FALSE(reader.take().has_value());
    EXPECT_FALSE(reader.broken());
    EXPECT_EQ(reader.feed("ond\r\n"), 5U);
    EXPECT_EQ(reader.take()->text, "first\nsecond");
}

// --- summary and writing ---------------------------------------------------------------------

TEST(ReplyTest, Summary) {
    Reply reply;
    reply.code = 550;
    reply.enhanced = "5.1.1";
    reply.text = "No such user\nsecond line";
    EXPECT_EQ(reply.summary(), "550 5.1.1 No such user");
    reply.enhanced.clear();
    EXPECT_EQ(reply.summary(), "550 No such user");
    reply.text.clear();
    EXPECT_EQ(reply.summary(), "550");
    reply.enhanced = "5.0.0";
    EXPECT_EQ(reply.summary(), "550 5.0.0");
}

TEST(ReplyTest, AppendReplyFormatsOneLine) {
    std::string out;
    append_reply(out, 250, "2.0.0", "Ok");
    EXPECT_EQ(out, "250 2.0.0 Ok\r\n");
    append_reply(out, 220, "", "relay.example ESMTP");
    EXPECT_EQ(out, "250 2.0.0 Ok\r\n220 relay.example ESMTP\r\n");
    out.clear();
    append_reply(out, 250, "", "mx.example", true);
    append_reply(out, 250, "", "PIPELINING");
    EXPECT_EQ(out, "250-mx.example\r\n250 PIPELINING\r\n");
    out.clear();
    append_reply(out, 354, "", "");
    append_reply(out, 250, "2.0.0", "");
    append_reply(out, 250, "", "", true);
    EXPECT_EQ(out, "354\r\n250 2.0.0\r\n250-\r\n");
}

TEST(ReplyTest, AppendReplySplitsTextAtNewlines) {
    std::string out;
    append_reply(out, 550, "5.7.1", "Message rejected\nSee https://relay.example/policy");
    EXPECT_EQ(out, "550-5.7.1 Message rejected\r\n550 5.7.1 See https://relay.example/policy\r\n");
    out.clear();
    append_reply(out, 250, "", "a\n\nb", true);
    EXPECT_EQ(out, "250-a\r\n250-\r\n250-b\r\n");
}

TEST(ReplyTest, WrittenRepliesReadBackUnchanged) {
    const Reply originals[] = {
        {250, "2.0.0", "Ok: queued"},
        {250, "", "mx.example\nPIPELINING\n\nSMTPUTF8"},
        {550, "5.1.1", "No such user\n\nreally"},
        {421, "", ""},
        {554, "5.0.0", ""},
        {250, "", "5.0.0 looks like a code"},
    };
    std::string stream;
    for (const Reply& original : originals) {
        append_reply(stream, original.code, original.enhanced, original.text);
    }
    const ReadResult result = read_all(stream);
    ASSERT_FALSE(result.broken) << result.reason;
    ASSERT_EQ(result.replies.size(), std::size(originals));
    for (std::size_t i = 0; i < std::size(originals); ++i) {
        EXPECT_TRUE(same(result.replies[i], originals[i])) << i << ": " << result.replies[i].text;
    }
}

}  // namespace
}  // namespace relay::smtp
