// Tests of the MIME charset scan, through the message pass (BDAT chunks, so the input is the
// stored message as written): what is refused, what passes, what the refusal says, and that the
// verdict does not depend on where the buffers were cut.
#include "relay/message/mime_scanner.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "pass_driver.h"
#include "relay/message/message_pass.h"

namespace relay::message {
namespace {

using test_support::PassRun;

PassRun scan(const std::string& message, PassLimits limits = {}) {
    return test_support::run_bdat(limits, message);
}

// Refused for a charset: "charset X in WHERE"; accepted: "accepted"; else the verdict's name.
std::string verdict_of(const std::string& message, PassLimits limits = {}) {
    const PassRun run = scan(message, limits);
    if (run.outcome.verdict == Verdict::accepted) {
        return "accepted";
    }
    if (run.outcome.verdict == Verdict::charset) {
        return "charset " + run.outcome.charset + " in " + run.outcome.where;
    }
    std::string text = test_support::verdict_name(run.outcome.verdict);
    if (!run.outcome.where.empty()) {
        text += " in " + run.outcome.where;
    }
    return text;
}

std::string multipart(const std::string& boundary, const std::vector<std::string>& parts,
                      const std::string& type = "mixed") {
    std::string text =
        "Content-Type: multipart/" + type + "; boundary=\"" + boundary + "\"\r\n\r\n";
    text += "preamble\r\n";
    for (const std::string& part : parts) {
        text.append("--").append(boundary).append("\r\n").append(part).append("\r\n");
    }
    text += "--" + boundary + "--\r\nepilogue\r\n";
    return text;
}

const std::string kHead = "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n";

TEST(MimeScanner, PlainMessagesPass) {
    EXPECT_EQ(verdict_of(kHead + "\r\nhello\r\n"), "accepted");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; charset=utf-8\r\n\r\nh\xC3\xA9\r\n"),
              "accepted");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; charset=\"US-ASCII\"\r\n\r\nhi\r\n"),
              "accepted");
    EXPECT_EQ(verdict_of(kHead + "Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\n\r\nhi\r\n"),
              "accepted");
}

TEST(MimeScanner, AcceptedNamesAreUtf8AndAsciiOnly) {
    for (const char* name : {"utf-8", "UTF8", "csUTF8", "us-ascii", "ASCII", "ANSI_X3.4-1968",
                             "iso646-us", "cp367", "us"}) {
        EXPECT_TRUE(is_accepted_charset(name)) << name;
    }
    for (const char* name : {"windows-1251", "koi8-r", "iso-8859-1", "latin1", "utf-16", "utf-7",
                             "utf-8x", "", "utf"}) {
        EXPECT_FALSE(is_accepted_charset(name)) << name;
    }
}

TEST(MimeScanner, TopLevelCharsetIsPartOne) {
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; charset=windows-1251\r\n\r\n\r\n"),
              "charset windows-1251 in part 1");
}

TEST(MimeScanner, ParametersAreReadAsRfc2045AndRfc2231WriteThem) {
    // Case-insensitive names, quoted values, folding, comments.
    EXPECT_EQ(verdict_of(kHead + "content-TYPE: Text/Plain;\r\n\tCHARSET=\"KOI8-R\"\r\n\r\nx\r\n"),
              "charset KOI8-R in part 1");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain (body); charset=us-ascii (plain)\r\n"
                                 "\r\nx\r\n"),
              "accepted");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; format=flowed;\r\n charset=\r\n"
                                 " iso-8859-1\r\n\r\nx\r\n"),
              "charset iso-8859-1 in part 1");
    // RFC 2231: an extended value, and continuations put back together in order.
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; charset*=''windows-1252\r\n\r\nx\r\n"),
              "charset windows-1252 in part 1");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; charset*1=\"-1251\";\r\n"
                                 " charset*0=\"windows\"\r\n\r\nx\r\n"),
              "charset windows-1251 in part 1");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; charset*=utf-8''utf%2D8\r\n\r\nx\r\n"),
              "accepted");
    // The charset of an extended value of another parameter, here in Content-Disposition.
    EXPECT_EQ(verdict_of(kHead + "Content-Disposition: attachment;\r\n"
                                 " filename*=koi8-r''%F0%D2%C9.txt\r\n\r\nx\r\n"),
              "charset koi8-r in the Content-Disposition header");
    EXPECT_EQ(verdict_of(kHead + "Content-Disposition: attachment;"
                                 " filename*=UTF-8''%C3%A9.txt\r\n\r\nx\r\n"),
              "accepted");
}

TEST(MimeScanner, EveryTypeButMultipartIsChecked) {
    EXPECT_EQ(
        verdict_of(multipart("b", {"Content-Type: image/png; charset=windows-1251\r\n\r\nx"})),
        "charset windows-1251 in part 1");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: multipart/mixed; charset=koi8-r; boundary=b\r\n"
                                 "\r\n--b\r\n\r\nx\r\n--b--\r\n"),
              "accepted");
}

TEST(MimeScanner, PartsAreNumberedAsImapDoes) {
    const std::string ascii = "Content-Type: text/plain; charset=us-ascii\r\n\r\nhello";
    const std::string cyrillic = "Content-Type: text/plain; charset=windows-1251\r\n\r\n\xCF\xF0";
    EXPECT_EQ(verdict_of(kHead + multipart("outer", {ascii, ascii})), "accepted");
    const PassRun second = scan(kHead + multipart("outer", {ascii, cyrillic}));
    EXPECT_EQ(second.outcome.verdict, Verdict::charset);
    EXPECT_EQ(second.outcome.where, "part 2");
    // Nested: part 1 is multipart/alternative, its second part is 1.2.
    const std::string inner = "Content-Type: multipart/alternative; boundary=inner\r\n\r\n" +
                              std::string("--inner\r\n") + ascii + "\r\n--inner\r\n" + cyrillic +
                              "\r\n--inner--\r\n";
    EXPECT_EQ(verdict_of(kHead + multipart("outer", {inner, ascii})),
              "charset windows-1251 in part 1.2");
    // After the inner close delimiter, the next outer part is 2.
    EXPECT_EQ(
        verdict_of(kHead + multipart("outer", {inner.substr(0, inner.find("--inner\r\n") + 9) +
                                                   ascii + "\r\n--inner--\r\n",
                                               cyrillic})),
        "charset windows-1251 in part 2");
}

TEST(MimeScanner, EncodedWordsInAnyHeaderOfAnyPart) {
    EXPECT_EQ(verdict_of("Subject: =?koi8-r?B?8NLJ18XU?=\r\n\r\nx\r\n"),
              "charset koi8-r in the Subject header");
    EXPECT_EQ(verdict_of("From: =?windows-1251*ru?q?=CF=F0?= <a@example.com>\r\n\r\nx\r\n"),
              "charset windows-1251 in the From header");
    EXPECT_EQ(verdict_of(kHead + multipart("b", {"\r\nplain",
                                                 "Content-Type: text/plain\r\nContent-Description:"
                                                 "\r\n =?ISO-8859-1?Q?caf=E9?=\r\n\r\nx"})),
              "charset ISO-8859-1 in the Content-Description header of part 2");
    // Not encoded-words: no closing "?=", whitespace inside, an unknown encoding.
    EXPECT_EQ(verdict_of("Subject: =?koi8-r?B?abc\r\n\r\nx\r\n"), "accepted");
    EXPECT_EQ(verdict_of("Subject: =?koi8-r?Q?a b?=\r\n\r\nx\r\n"), "accepted");
    EXPECT_EQ(verdict_of("Subject: =?koi8-r?X?ab?=\r\n\r\nx\r\n"), "accepted");
    // In a body, the same text is only text.
    EXPECT_EQ(verdict_of(kHead + "\r\n=?koi8-r?B?8NLJ18XU?=\r\n"), "accepted");
}

TEST(MimeScanner, BoundaryLinesAreExact) {
    const std::string cyrillic = "Content-Type: text/plain; charset=koi8-r\r\n\r\nx";
    // Transport padding after a delimiter is allowed.
    EXPECT_EQ(verdict_of(kHead + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n" +
                         cyrillic + "\r\n--b--\r\n"),
              "charset koi8-r in part 1");
    // "--bx" is not a delimiter of "b": the text after it is body, not a header.
    EXPECT_EQ(verdict_of(kHead + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" +
                         "--bx\r\n" + cyrillic + "\r\n--b--\r\n"),
              "accepted");
    // After the close delimiter, the epilogue is body.
    EXPECT_EQ(verdict_of(kHead + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" +
                         "x\r\n--b--\r\n--b\r\n" + cyrillic + "\r\n"),
              "accepted");
    // Unquoted boundaries with '=' (as some senders write them) are read whole.
    EXPECT_EQ(verdict_of(kHead +
                         "Content-Type: multipart/mixed; boundary=----=_NextPart_1\r\n\r\n"
                         "------=_NextPart_1\r\n" +
                         cyrillic + "\r\n------=_NextPart_1--\r\n"),
              "charset koi8-r in part 1");
}

TEST(MimeScanner, EmbeddedMessagesAreScanned) {
    const std::string embedded =
        "Content-Type: message/rfc822\r\n\r\nSubject: =?koi8-r?B?8NLJ18XU?=\r\n\r\nbody";
    EXPECT_EQ(verdict_of(kHead + multipart("b", {"\r\nx", embedded})),
              "charset koi8-r in the Subject header of part 2");
    const std::string embedded_body =
        "Content-Type: message/rfc822\r\n\r\nSubject: hi\r\n"
        "Content-Type: text/plain; charset=iso-8859-5\r\n\r\nbody";
    EXPECT_EQ(verdict_of(kHead + multipart("b", {embedded_body})),
              "charset iso-8859-5 in part 1.1");
    // multipart/digest parts are message/rfc822 unless they say otherwise.
    EXPECT_EQ(
        verdict_of(kHead + multipart("d", {"\r\nSubject: =?koi8-r?Q?x?=\r\n\r\nbody"}, "digest")),
        "charset koi8-r in the Subject header of part 1");
}

TEST(MimeScanner, NestingIsBounded) {
    PassLimits limits;
    limits.mime_depth_max = 3;
    std::string body = "\r\nleaf";
    for (int level = 4; level-- > 0;) {
        const std::string boundary = "b" + std::to_string(level);
        std::string outer = "Content-Type: multipart/mixed; boundary=" + boundary;
        outer.append("\r\n\r\n--").append(boundary).append("\r\n").append(body);
        outer.append("\r\n--").append(boundary).append("--\r\n");
        body = std::move(outer);
    }
    // Four multiparts: the leaf is part 1.1.1.1, one component too many.
    EXPECT_EQ(verdict_of(kHead + body, limits), "mime_too_deep in part 1.1.1");
    limits.mime_depth_max = 4;
    EXPECT_EQ(verdict_of(kHead + body, limits), "accepted");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: multipart/mixed; boundary=" +
                         std::string(kBoundaryBytesMax + 1, 'x') + "\r\n\r\nx\r\n"),
              "mime_boundary_too_long in the Content-Type header");
}

TEST(MimeScanner, InvalidUtf8SaysWhere) {
    EXPECT_EQ(verdict_of("Subject: caf\xE9\r\n\r\nx\r\n"), "invalid_utf8 in the header");
    EXPECT_EQ(verdict_of(kHead + "\r\ncaf\xE9\r\n"), "invalid_utf8 in the body");
    EXPECT_EQ(
        verdict_of(kHead + multipart("b", {"\r\nok", "Content-Type: text/plain\r\n\r\n\xE9"})),
        "invalid_utf8 in the body of part 2");
    EXPECT_EQ(verdict_of(kHead + multipart("b", {"Subject: \xE9\r\n\r\nok"})),
              "invalid_utf8 in the header of part 1");
    PassLimits off;
    off.require_utf8_charsets = false;
    EXPECT_EQ(verdict_of(kHead + "\r\ncaf\xE9\r\n", off), "invalid_utf8");
    EXPECT_EQ(verdict_of(kHead + "Content-Type: text/plain; charset=koi8-r\r\n\r\nx\r\n", off),
              "accepted");
}

TEST(MimeScanner, FieldsOfPartsAreBounded) {
    PassLimits limits;
    limits.header_bytes_max = 2048;
    std::string folded = "X-Long: a\r\n";
    for (int line = 0; line < 100; ++line) {
        folded += " continued line of a folded field\r\n";
    }
    EXPECT_EQ(verdict_of(kHead + multipart("b", {folded + "\r\nx"}), limits),
              "header_too_large in the header of part 1");
}

// Random MIME messages: multiparts nested up to four deep, parts with and without charsets,
// encoded-words, folded parameters, boundaries that nearly match, invalid UTF-8 now and then.
class MessageMaker {
  public:
    explicit MessageMaker(std::mt19937& random) : random_(random) {}

    std::string message() {
        std::string text = "From: a@example.com\r\n" + maybe_subject();
        return text + entity(0);
    }

  private:
    std::size_t pick(std::size_t count) { return random_() % count; }

    std::string charset() {
        static const char* names[] = {"utf-8", "us-ascii", "UTF8", "windows-1251", "koi8-r"};
        return names[pick(5)];
    }

    std::string maybe_subject() {
        switch (pick(4)) {
            case 0:
                return "Subject: =?" + charset() + "?B?0J/RgA==?=\r\n";
            case 1:
                return "Subject: plain\r\n";
            default:
                return "";
        }
    }

    std::string body_text() {
        static const char* lines[] = {
            "hello", "--not-a-boundary", "caf\xC3\xA9", "- dash", "=?koi8-r?B?eA==?=", "-", "--",
            "\xE9"};
        std::string text;
        for (std::size_t count = pick(4); count > 0; --count) {
            const std::size_t which = pick(8);
            if (which == 7 && pick(4) != 0) {
                continue;  // invalid UTF-8 only now and then
            }
            text += std::string(lines[which]) + "\r\n";
        }
        return text;
    }

    std::string content_type_leaf() {
        switch (pick(5)) {
            case 0:
                return "";
            case 1:
                return "Content-Type: text/plain; charset=" + charset() + "\r\n";
            case 2:
                return "Content-Type: text/plain;\r\n\tcharset=\"" + charset() + "\"\r\n";
            case 3:
                return "Content-Type: text/html; charset*=''" + charset() + "\r\n";
            default:
                return "Content-Type: image/png\r\n";
        }
    }

    std::string entity(int depth) {
        if (depth < 4 && pick(3) == 0) {
            const std::string boundary =
                "=_b" + std::to_string(depth) + "_" + std::to_string(pick(3));
            std::string text = "Content-Type: multipart/mixed;\r\n boundary=\"" + boundary +
                               "\"\r\n" + maybe_subject() + "\r\n" + body_text();
            for (std::size_t parts = 1 + pick(3); parts > 0; --parts) {
                text += "--" + boundary + (pick(4) == 0 ? " \r\n" : "\r\n") + entity(depth + 1);
            }
            if (pick(5) != 0) {
                text += "--" + boundary + "--\r\n" + body_text();
            }
            return text;
        }
        return content_type_leaf() + maybe_subject() + "\r\n" + body_text();
    }

    std::mt19937& random_;
};

// The earliest problem names the refusal, and the place of a later one does not stick to it:
// an over-long header block comes before an ill-formed octet in the body, whether the pass sees
// both in one buffer or the octet only after the header's refusal.
TEST(MimeScanner, AnEarlierRefusalKeepsNoPlaceOfALaterOne) {
    PassLimits limits;
    limits.header_bytes_max = 22;
    const std::string message = "Subject: 0123456789\r\n\r\nbody\r\n\x96\r\n";
    const PassRun whole = test_support::run_bdat(limits, message);
    EXPECT_EQ(whole.outcome.verdict, Verdict::header_too_large);
    EXPECT_EQ(whole.outcome.where, "");
    std::vector<std::size_t> every;
    for (std::size_t cut = 1; cut < message.size(); ++cut) {
        every.push_back(cut);
    }
    const PassRun split = test_support::run_bdat(limits, message, every);
    EXPECT_TRUE(test_support::same_result(whole, split)) << whole << "\n" << split;
    // Without the header limit the octet is what is refused, and where it is is said.
    EXPECT_EQ(verdict_of(message), "invalid_utf8 in the body");
}

TEST(MimeScannerProperty, SplitAnywhereGivesTheSameVerdict) {
    std::mt19937 random(20261201);
    int refused = 0;
    for (int round = 0; round < 4000; ++round) {
        MessageMaker maker(random);
        const std::string message = maker.message();
        PassLimits limits;
        limits.mime_depth_max = 1 + random() % 5;
        const PassRun whole = test_support::run_bdat(limits, message);
        std::vector<std::size_t> cuts;
        for (std::size_t count = random() % 12; count > 0; --count) {
            cuts.push_back(random() % (message.size() + 1));
        }
        if (random() % 4 == 0) {
            for (std::size_t cut = 1; cut < message.size(); ++cut) {
                cuts.push_back(cut);  // one octet at a time
            }
        }
        std::sort(cuts.begin(), cuts.end());
        const PassRun split = test_support::run_bdat(limits, message, cuts);
        ASSERT_TRUE(test_support::same_result(whole, split))
            << test_support::escaped(message) << "\nwhole: " << whole << " " << whole.outcome.where
            << "\nsplit: " << split << " " << split.outcome.where;
        // DATA framing sees the same stored bytes.
        const PassRun data = test_support::run_data(limits, message + ".\r\n", cuts);
        ASSERT_EQ(data.outcome.verdict, whole.outcome.verdict) << test_support::escaped(message);
        ASSERT_EQ(data.outcome.where, whole.outcome.where);
        refused += whole.outcome.verdict != Verdict::accepted ? 1 : 0;
    }
    // The generator reaches both outcomes often.
    EXPECT_GT(refused, 1000);
    EXPECT_LT(refused, 3500);
}

}  // namespace
}  // namespace relay::message
