// mime_test.cc -- the MIME walker: header unfolding, parameters, transfer decodings, nested
// multiparts, and the limits that bound it.
#include "relay/bounce/mime.h"

#include <gtest/gtest.h>

#include <string>

namespace relay::bounce {
namespace {

TEST(BounceMime, HeaderFieldsAreUnfoldedAndFoundWhateverTheirCase) {
    HeaderBlock block = parse_header_block(
        "Subject: a long\r\n\tsubject\r\nCONTENT-type: text/plain;\r\n charset=us-ascii\r\n"
        "X-Empty:\r\n\r\nbody\r\n",
        16);
    EXPECT_EQ(block.headers.get("subject"), "a long\tsubject");
    EXPECT_EQ(block.headers.get("Content-Type"), "text/plain; charset=us-ascii");
    EXPECT_TRUE(block.headers.has("x-empty"));
    EXPECT_FALSE(block.headers.has("x-missing"));
    EXPECT_EQ(block.body_offset, std::string_view("Subject: a long\r\n\tsubject\r\nCONTENT-type: "
                                                  "text/plain;\r\n charset=us-ascii\r\nX-Empty:"
                                                  "\r\n\r\n")
                                     .size());
    EXPECT_FALSE(block.truncated);
}

TEST(BounceMime, HeaderBlockEndsAtTheFirstLineThatIsNoField) {
    HeaderBlock block = parse_header_block("Action: failed\nThis is text.\nMore: text\n", 16);
    ASSERT_EQ(block.headers.fields.size(), 1U);
    EXPECT_EQ(block.body_offset, std::string_view("Action: failed\n").size());
}

TEST(BounceMime, HeaderFieldCountIsBounded) {
    std::string many;
    for (int index = 0; index < 1000; ++index) {
        many += "X-Field-" + std::to_string(index) + ": value\n continued\n";
    }
    many += "\nbody";
    HeaderBlock block = parse_header_block(many, 10);
    EXPECT_EQ(block.headers.fields.size(), 10U);
    EXPECT_TRUE(block.truncated);
    EXPECT_EQ(std::string_view(many).substr(block.body_offset), "body");
}

TEST(BounceMime, ParametersAreReadQuotedOrNot) {
    std::string_view value =
        "multipart/report; report-type=delivery-status;\tBoundary=\"a;b=\\\"c\\\"\"; x=y";
    EXPECT_EQ(media_type_of(value), "multipart/report");
    EXPECT_EQ(parameter_of(value, "report-type"), "delivery-status");
    EXPECT_EQ(parameter_of(value, "boundary"), "a;b=\"c\"");
    EXPECT_EQ(parameter_of(value, "x"), "y");
    EXPECT_EQ(parameter_of(value, "missing"), "");
    EXPECT_EQ(media_type_of("garbage"), "");
    EXPECT_EQ(media_type_of(" Text/HTML ; charset=utf-8"), "text/html");
}

TEST(BounceMime, TransferEncodingsAreDecoded) {
    EXPECT_EQ(decode_base64("SGVs\r\nbG8s IHdvcmxkIQ=="), "Hello, world!");
    EXPECT_EQ(decode_base64("!!!"), "");
    EXPECT_EQ(decode_quoted_printable("a=3Db=\r\nc=\nd =ZZ=4"), "a=bcd =ZZ=4");
}

TEST(BounceMime, NestedMultipartsAreWalkedInOrder) {
    std::string_view message =
        "Content-Type: multipart/mixed; boundary=outer\n\npreamble\n"
        "--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n"
        "--inner\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGk=\n"
        "--inner\nContent-Type: text/html\n\n<p>hi</p>\n--inner--\n"
        "--outer\nContent-Type: message/rfc822\n\nSubject: inside\n\nbody\n"
        "--outer--\nepilogue\n";
    MimeTree tree = walk_mime(message);
    ASSERT_EQ(tree.parts.size(), 5U);
    EXPECT_EQ(tree.parts[0].media_type, "multipart/mixed");
    EXPECT_EQ(tree.parts[1].media_type, "multipart/alternative");
    EXPECT_EQ(tree.parts[1].depth, 1U);
    EXPECT_EQ(tree.parts[2].media_type, "text/plain");
    EXPECT_EQ(tree.parts[2].body, "hi");
    EXPECT_EQ(tree.parts[2].depth, 2U);
    EXPECT_EQ(tree.parts[3].body, "<p>hi</p>");
    EXPECT_EQ(tree.parts[4].media_type, "message/rfc822");
    EXPECT_EQ(tree.parts[4].body, "Subject: inside\n\nbody");
    EXPECT_FALSE(tree.truncated);
}

TEST(BounceMime, UnclosedMultipartRunsToTheEnd) {
    MimeTree tree = walk_mime(
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nfirst"
        "\r\n--x\r\nContent-Type: text/html\r\n\r\nsecond, cut");
    ASSERT_EQ(tree.parts.size(), 3U);
    EXPECT_EQ(tree.parts[1].body, "first");
    EXPECT_EQ(tree.parts[2].media_type, "text/html");
    EXPECT_EQ(tree.parts[2].body, "second, cut");
}

TEST(BounceMime, MultipartWithoutDelimitersIsText) {
    MimeTree tree = walk_mime("Content-Type: multipart/report; boundary=gone\n\nAction: failed\n");
    ASSERT_EQ(tree.parts.size(), 1U);
    EXPECT_EQ(tree.parts[0].media_type, "text/plain");
    EXPECT_EQ(tree.parts[0].body, "Action: failed\n");
}

TEST(BounceMime, PartCountIsBounded) {
    std::string message = "Content-Type: multipart/mixed; boundary=x\n\n";
    for (int index = 0; index < 10000; ++index) {
        message += "--x\n\npart\n";
    }
    MimeLimits limits;
    MimeTree tree = walk_mime(message, limits);
    EXPECT_EQ(tree.parts.size(), limits.parts_max);
    EXPECT_TRUE(tree.truncated);
}

}  // namespace
}  // namespace relay::bounce
