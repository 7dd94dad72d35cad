// headers_test.cc -- splitting a header block, canonical fields (RFC 6376 §3.4.5's example),
// choosing the signed fields, and bottom-up selection of repeated fields.
#include "relay/dkim/headers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support.h"

namespace relay::dkim {
namespace {

using test_support::sha256;

std::string canonical(std::string_view block, Canonicalization canonicalization) {
    std::string out;
    for (const std::string_view field : split_header_fields(block)) {
        append_canonical_field(out, field, canonicalization);
    }
    return out;
}

TEST(Headers, SplitKeepsFoldedLinesAndStopsAtTheEmptyLine) {
    const std::string block =
        "Subject: one\r\n two\r\n\tthree\r\nTo: a@example.com\r\n\r\nBody: not a field\r\n";
    const auto fields = split_header_fields(block);
    ASSERT_EQ(fields.size(), 2u);
    EXPECT_EQ(fields[0], "Subject: one\r\n two\r\n\tthree\r\n");
    EXPECT_EQ(fields[1], "To: a@example.com\r\n");
    EXPECT_EQ(field_name(fields[0]), "Subject");
    // A last field without its CRLF (a header block cut short) is still a field.
    EXPECT_EQ(split_header_fields("A: 1\r\nB: 2").size(), 2u);
    // Continuation lines before any field belong to none.
    EXPECT_EQ(split_header_fields(" stray\r\nA: 1\r\n").size(), 1u);
}

TEST(Headers, Rfc6376Section345Example) {
    // RFC 6376 §3.4.5: the header fields "A: X" and "B : Y<TAB><CRLF><TAB>Z  ".
    const std::string block = "A: X\r\nB : Y\t\r\n\tZ  \r\n";
    EXPECT_EQ(canonical(block, Canonicalization::relaxed), "a:X\r\nb:Y Z\r\n");
    EXPECT_EQ(canonical(block, Canonicalization::simple), block);
    // And its body, " C <CRLF>D <TAB> E<CRLF><CRLF><CRLF>".
    const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
    BodyHasher relaxed(Canonicalization::relaxed);
    relaxed.body(body);
    EXPECT_EQ(relaxed.finish(), sha256(" C\r\nD E\r\n"));
    BodyHasher simple(Canonicalization::simple);
    simple.body(body);
    EXPECT_EQ(simple.finish(), sha256(" C \r\nD \t E\r\n"));
}

TEST(Headers, RelaxedFieldEdges) {
    std::string out;
    append_canonical_field(out, "SubJect \t:  Hello \t World \r\n  again  \r\n",
                           Canonicalization::relaxed);
    EXPECT_EQ(out, "subject:Hello World again\r\n");
    out.clear();
    append_canonical_field(out, "X-Empty:\r\n", Canonicalization::relaxed);
    EXPECT_EQ(out, "x-empty:\r\n");
    out.clear();
    // 8-bit octets are kept as they are, case included.
    append_canonical_field(out, "Subject: Caf\xc3\xa9 \xc3\x89t\xc3\xa9\r\n",
                           Canonicalization::relaxed);
    EXPECT_EQ(out, "subject:Caf\xc3\xa9 \xc3\x89t\xc3\xa9\r\n");
    out.clear();
    append_canonical_field(out, "A: no line end", Canonicalization::simple);
    EXPECT_EQ(out, "A: no line end\r\n");
}

TEST(Headers, ChoosesPresentFieldsEachInstanceAndOversignsFrom) {
    const std::string block =
        "Received: from x\r\nFrom: a@example.com\r\nTO: b@example.net\r\nSubject: s\r\n"
        "To: c@example.net\r\nX-Mailer: m\r\nList-Unsubscribe: <mailto:u@example.com>\r\n";
    const auto fields = split_header_fields(block);
    const auto names = choose_signed_fields(fields, default_signed_field_names(),
                                            default_oversigned_field_names());
    const std::vector<std::string> expected = {"from", "from",    "to",
                                               "to",   "subject", "list-unsubscribe"};
    EXPECT_EQ(names, expected);
}

TEST(Headers, RepeatedFieldsAreTakenBottomUp) {
    const std::string block = "X-A: top\r\nFrom: f@example.com\r\nX-A: bottom\r\n";
    const auto fields = split_header_fields(block);
    const std::string signature = "DKIM-Signature: v=1; b=";
    const std::string signature_canonical = "dkim-signature:v=1; b=";
    const std::vector<std::string> one = {"x-a"};
    EXPECT_EQ(signed_headers_hash(fields, one, signature, Canonicalization::relaxed),
              sha256("x-a:bottom\r\n" + signature_canonical));
    // A name listed more often than it occurs contributes nothing the extra times (§5.4.2).
    const std::vector<std::string> three = {"x-a", "from", "x-a", "x-a", "from"};
    EXPECT_EQ(signed_headers_hash(fields, three, signature, Canonicalization::relaxed),
              sha256("x-a:bottom\r\nfrom:f@example.com\r\nx-a:top\r\n" + signature_canonical));
    EXPECT_EQ(signed_headers_hash(fields, three, signature, Canonicalization::simple),
              sha256("X-A: bottom\r\nFrom: f@example.com\r\nX-A: top\r\n" + signature));
}

}  // namespace
}  // namespace relay::dkim
