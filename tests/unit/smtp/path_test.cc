// path_test.cc -- unit tests of the path grammar (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1) and of
// UTF-8 well-formedness (RFC 3629, RFC 6531), through parse_path and through MAIL/RCPT lines.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "relay/smtp/command.h"
#include "test_util.h"

namespace relay::smtp {
namespace {

namespace replies = parser_replies;
using test::domain_of_length;

Path recipient(std::string_view text) {
    auto result = parse_path(text, false);
    if (const auto* path = std::get_if<Path>(&result)) {
        return *path;
    }
    ADD_FAILURE() << "\"" << text << "\" refused: " << std::get<SyntaxReply>(result).text;
    return Path{};
}

SyntaxReply recipient_refused(std::string_view text) {
    auto result = parse_path(text, false);
    if (const auto* reply = std::get_if<SyntaxReply>(&result)) {
        return *reply;
    }
    ADD_FAILURE() << "\"" << text << "\" accepted as " << std::get<Path>(result).mailbox;
    return SyntaxReply{0, {}, {}};
}

SyntaxReply sender_refused(std::string_view text) {
    auto result = parse_path(text, true);
    if (const auto* reply = std::get_if<SyntaxReply>(&result)) {
        return *reply;
    }
    ADD_FAILURE() << "\"" << text << "\" accepted as " << std::get<Path>(result).mailbox;
    return SyntaxReply{0, {}, {}};
}

bool recipient_ok(std::string_view text) {
    return std::holds_alternative<Path>(parse_path(text, false));
}

// --- local parts -----------------------------------------------------------------------------

TEST(PathTest, DotStringLocalParts) {
    EXPECT_EQ(recipient("<first.last@example.com>").local_part, "first.last");
    EXPECT_EQ(recipient("<user+tag@example.com>").local_part, "user+tag");
    EXPECT_EQ(recipient("<!#$%&'*+-/=?^_`{|}~@example.com>").local_part, "!#$%&'*+-/=?^_`{|}~");
    EXPECT_EQ(recipient("<x@example.com>").local_part, "x");
    EXPECT_EQ(recipient("user@example.com").mailbox, "user@example.com");
}

TEST(PathTest, DotsAtTheEndsOrDoubledAreRefused) {
    for (const char* text :
         {"<.user@example.com>", "<user.@example.com>", "<us..er@example.com>", "<.@example.com>",
          "<..@example.com>", "<@example.com>", "<user@@example.com>", "<us er@example.com>",
          "<us(er@example.com>", "<us,er@example.com>", "<us;er@example.com>",
          "<us\"er@example.com>", "<us\\er@example.com>", "<us[er@example.com>",
          "<us\ter@example.com>", "<user>", "<user@>", "<>"}) {
        EXPECT_FALSE(recipient_ok(text)) << text;
    }
    EXPECT_EQ(recipient_refused("<us..er@example.com>"),
              (SyntaxReply{501, "5.1.3", "Bad recipient address syntax"}));
    EXPECT_EQ(sender_refused("<us..er@example.com>"),
              (SyntaxReply{501, "5.1.7", "Bad sender address syntax"}));
}

TEST(PathTest, QuotedLocalParts) {
    EXPECT_EQ(recipient("<\"john doe\"@example.com>").local_part, "\"john doe\"");
    EXPECT_EQ(recipient("<\"a\\\"b\"@example.com>").local_part, "\"a\\\"b\"");
    EXPECT_EQ(recipient("<\"a\\\\b\"@example.com>").local_part, "\"a\\\\b\"");
    EXPECT_EQ(recipient("<\"\\ \"@example.com>").local_part, "\"\\ \"");
    EXPECT_EQ(recipient("<\"\"@example.com>").local_part, "\"\"");
    EXPECT_EQ(recipient("<\".dots..here.\"@example.com>").local_part, "\".dots..here.\"");
    EXPECT_EQ(recipient("<\"a@b\"@example.com>").domain, "example.com");
    EXPECT_EQ(recipient("<\"<>[]:,;\"@example.com>").local_part, "\"<>[]:,;\"");
}

TEST(PathTest, MalformedQuotedLocalPartsAreRefused) {
    for (const char* text :
         {"<\"open@example.com>", "<\"a\"b@example.com>", "<a\"b\"@example.com>",
          "<\"a\"\"b\"@example.com>", "<\"a\\\"@example.com>", "<\"tab\there\"@example.com>",
          "<\"nul\x01\"@example.com>", "<\"bell\\\x07\"@example.com>", "<\"del\x7f\"@example.com>",
          "<\"esc\\\xc3\xa9\"@example.com>", "<\"a\".b@example.com>", "<\"a\">"}) {
        EXPECT_FALSE(recipient_ok(text)) << text;
    }
}

// --- domains and address literals ------------------------------------------------------------

TEST(PathTest, DomainNames) {
    for (const char* text :
         {"<u@example>", "<u@ex-ample.com>", "<u@a--b.example>", "<u@123.example>", "<u@1.2.3.4>",
          "<u@X.Y>", "<u@xn--bcher-kva.example>"}) {
        EXPECT_TRUE(recipient_ok(text)) << text;
    }
    EXPECT_EQ(recipient("<u@Example.COM>").domain, "Example.COM");
}

TEST(PathTest, MalformedDomainsAreRefused) {
    for (const char* text :
         {"<u@-example.com>", "<u@example-.com>", "<u@exa_mple.com>", "<u@example.com.>",
          "<u@.example.com>", "<u@example..com>", "<u@exa mple.com>", "<u@exa\"mple.com>",
          "<u@example.com:25>", "<u@ex@ample.com>", "<u@*.example.com>", "<u@example.-com>"}) {
        EXPECT_FALSE(recipient_ok(text)) << text;
    }
}

TEST(PathTest, LabelsAreAtMost63Octets) {
    const std::string label_63(63, 'a');
    EXPECT_TRUE(recipient_ok("<u@" + label_63 + ".example>"));
    EXPECT_FALSE(recipient_ok("<u@" + label_63 + "b.example>"));
}

TEST(PathTest, Ipv4Literals) {
    EXPECT_EQ(recipient("<u@[192.0.2.1]>").domain, "[192.0.2.1]");
    EXPECT_TRUE(recipient_ok("<u@[0.0.0.0]>"));
    EXPECT_TRUE(recipient_ok("<u@[255.255.255.255]>"));
    EXPECT_TRUE(recipient_ok("<u@[001.02.3.004]>"));
    for (const char* text :
         {"<u@[256.0.0.1]>", "<u@[1.2.3]>", "<u@[1.2.3.4.5]>", "<u@[0001.1.1.1]>", "<u@[1..2.3]>",
          "<u@[1.2.3.]>", "<u@[.1.2.3]>", "<u@[1.2.3.-4]>", "<u@[ 1.2.3.4]>", "<u@[192.0.2.1>",
          "<u@192.0.2.1]>", "<u@[]>", "<u@[example.com]>", "<u@[1.2.3.4]x>"}) {
        EXPECT_FALSE(recipient_ok(text)) << text;
    }
}

TEST(PathTest, Ipv6Literals) {
    for (const char* text :
         {"<u@[IPv6:2001:db8::1]>", "<u@[ipv6:::1]>", "<u@[IPV6:::]>", "<u@[IPv6:1:2:3:4:5:6:7:8]>",
          "<u@[IPv6:2001:DB8:0:0:8:800:200C:417A]>", "<u@[IPv6:1:2:3:4:5:6::]>",
          "<u@[IPv6:::2:3:4:5:6:7]>", "<u@[IPv6:1::8]>", "<u@[IPv6:::ffff:192.0.2.1]>",
          "<u@[IPv6:1:2:3:4:5:6:192.0.2.1]>", "<u@[IPv6:1:2:3:4::192.0.2.1]>",
          "<u@[IPv6:::192.0.2.1]>", "<u@[IPv6:abcd::]>"}) {
        EXPECT_TRUE(recipient_ok(text)) << text;
    }
    for (const char* text :
         {"<u@[IPv6:1:2:3:4:5:6:7]>", "<u@[IPv6:1:2:3:4:5:6:7:8:9]>", "<u@[IPv6:1::2::3]>",
          "<u@[IPv6:12345::1]>", "<u@[IPv6:g::1]>", "<u@[IPv6:1:2:3:4:5:6:7::]>",
          "<u@[IPv6:::2:3:4:5:6:7:8]>", "<u@[IPv6:]>", "<u@[IPv6::1]>", "<u@[IPv6:1:]>",
          "<u@[IPv6:1:::2]>", "<u@[IPv6:1:2:3:4:5::192.0.2.1]>",
          "<u@[IPv6:1:2:3:4:5:6:7:192.0.2.1]>", "<u@[IPv6:1:2:3:4:5:192.0.2.1]>",
          "<u@[IPv6:::192.0.2.256]>", "<u@[IPv6:::192.0.2.1:1]>", "<u@[IPv6:::1.2.3]>",
          "<u@[IPv6 ::1]>", "<u@[IPv6:1:2:3:4:5:6:7:8:1:2:3:4:5:6:7:8:9]>"}) {
        EXPECT_FALSE(recipient_ok(text)) << text;
    }
    // Without the tag it is not an IPv6 literal, but it is a General-address-literal with the
    // tag "2001": the grammar allows it.
    EXPECT_EQ(recipient("<u@[2001:db8::1]>").domain, "[2001:db8::1]");
}

TEST(PathTest, GeneralAddressLiterals) {
    EXPECT_EQ(recipient("<u@[x400:c=us;a=foo]>").domain, "[x400:c=us;a=foo]");
    EXPECT_TRUE(recipient_ok("<u@[tag-1:!~]>"));
    for (const char* text : {"<u@[tag:]>", "<u@[tag-:x]>", "<u@[ta g:x]>", "<u@[:x]>",
                             "<u@[tag:a b]>", "<u@[tag:a[b]>", "<u@[tag:a\\b]>", "<u@[t_g:x]>"}) {
        EXPECT_FALSE(recipient_ok(text)) << text;
    }
}

// --- source routes ---------------------------------------------------------------------------

TEST(PathTest, SourceRoutesAreAcceptedAndDropped) {
    const Path path = recipient("<@relay1.example,@relay2.example:user@example.com>");
    EXPECT_EQ(path.mailbox, "user@example.com");
    EXPECT_EQ(path.local_part, "user");
    EXPECT_EQ(path.domain, "example.com");
    EXPECT_EQ(recipient("<@[192.0.2.1]:user@example.com>").mailbox, "user@example.com");
    EXPECT_EQ(recipient("@relay.example:user@example.com").mailbox, "user@example.com");
    for (const char* text :
         {"<@:user@example.com>", "<@relay.example user@example.com>",
          "<@relay.example,user@example.com>", "<@relay.example,:user@example.com>",
          "<@relay.example:>", "<@relay..example:user@example.com>",
          "<@relay.example;@b.example:user@example.com>", "<@relay.example:@x:user@example.com>"}) {
        EXPECT_FALSE(recipient_ok(text)) << text;
    }
}

TEST(PathTest, NullPathOnlyForSenders) {
    auto sender = parse_path("<>", true);
    ASSERT_TRUE(std::holds_alternative<Path>(sender));
    EXPECT_TRUE(std::get<Path>(sender).is_null());
    EXPECT_EQ(recipient_refused("<>"), replies::recipient_null);
    EXPECT_EQ(sender_refused(""), replies::sender_syntax);
    EXPECT_EQ(sender_refused("<"), replies::sender_syntax);
    EXPECT_EQ(sender_refused(">"), replies::sender_syntax);
    EXPECT_EQ(sender_refused("< >"), replies::sender_syntax);
    EXPECT_EQ(sender_refused("<@a.example:>"), replies::sender_syntax);
}

// --- lengths (RFC 5321 §4.5.3.1) -------------------------------------------------------------

TEST(PathTest, LocalPartLimitIs64Octets) {
    const std::string at_limit(64, 'l');
    EXPECT_EQ(recipient("<" + at_limit + "@example.com>").local_part.size(), 64U);
    EXPECT_EQ(recipient_refused("<" + at_limit + "l@example.com>"),
              (SyntaxReply{501, "5.1.3", "Recipient address local part too long (64 octets max)"}));
    EXPECT_EQ(sender_refused("<" + at_limit + "l@example.com>"),
              (SyntaxReply{501, "5.1.7", "Sender address local part too long (64 octets max)"}));
    // A quoted local part counts its quotes.
    const std::string quoted_at_limit = "\"" + std::string(62, 'q') + "\"";
    EXPECT_TRUE(recipient_ok("<" + quoted_at_limit + "@example.com>"));
    EXPECT_EQ(recipient_refused("<\"" + std::string(63, 'q') + "\"@example.com>"),
              replies::recipient_local_part_too_long);
    // UTF-8 counts octets, not characters: 32 two-octet characters fill the local part.
    std::string utf8_at_limit;
    for (int i = 0; i < 32; ++i) {
        utf8_at_limit += "\xc3\xa9";
    }
    EXPECT_TRUE(recipient_ok("<" + utf8_at_limit + "@example.com>"));
    EXPECT_EQ(recipient_refused("<" + utf8_at_limit + "e@example.com>"),
              replies::recipient_local_part_too_long);
}

TEST(PathTest, PathLimitIs256OctetsWithBrackets) {
    // "<" + 64 + "@" + 189 + ">" = 256
    const std::string at_limit = "<" + std::string(64, 'l') + "@" + domain_of_length(189) + ">";
    ASSERT_EQ(at_limit.size(), 256U);
    EXPECT_TRUE(recipient_ok(at_limit));
    const std::string over = "<" + std::string(64, 'l') + "@" + domain_of_length(190) + ">";
    ASSERT_EQ(over.size(), 257U);
    EXPECT_EQ(recipient_refused(over),
              (SyntaxReply{501, "5.1.3", "Recipient address too long (256 octets max)"}));
    EXPECT_EQ(sender_refused(over),
              (SyntaxReply{501, "5.1.7", "Sender address too long (256 octets max)"}));
    // Without brackets the same address counts as if they were there.
    EXPECT_TRUE(recipient_ok(at_limit.substr(1, 254)));
    EXPECT_EQ(recipient_refused(over.substr(1, 255)), replies::recipient_too_long);
}

TEST(PathTest, SourceRouteCountsTowardsThePathLimit) {
    const std::string mailbox = std::string(64, 'l') + "@" + domain_of_length(100);
    const std::string at_limit = "<@" + domain_of_length(87) + ":" + mailbox + ">";
    ASSERT_EQ(at_limit.size(), 256U);
    EXPECT_TRUE(recipient_ok(at_limit));
    EXPECT_EQ(recipient_refused("<@" + domain_of_length(88) + ":" + mailbox + ">"),
              replies::recipient_too_long);
}

TEST(PathTest, DomainLimitIs255Octets) {
    // A 255-octet domain fits the domain limit but no path can hold it.
    EXPECT_EQ(recipient_refused("<u@" + domain_of_length(255) + ">"), replies::recipient_too_long);
    EXPECT_EQ(recipient_refused("<u@" + domain_of_length(256) + ">"),
              (SyntaxReply{501, "5.1.3", "Recipient address domain too long (255 octets max)"}));
    EXPECT_EQ(sender_refused("<u@" + domain_of_length(300) + ">"),
              (SyntaxReply{501, "5.1.7", "Sender address domain too long (255 octets max)"}));
}

TEST(PathTest, LongLinesThroughTheCommandParser) {
    const std::string line = "RCPT TO:<" + std::string(64, 'l') + "@" + domain_of_length(189) + ">";
    EXPECT_TRUE(std::holds_alternative<Rcpt>(parse_command(line)));
    const std::string longer = "MAIL FROM:<" + std::string(65, 'l') + "@example.com> SIZE=1";
    const Command command = parse_command(longer);
    ASSERT_TRUE(std::holds_alternative<Invalid>(command));
    EXPECT_EQ(std::get<Invalid>(command).reply, replies::sender_local_part_too_long);
}

// --- UTF-8 (RFC 6531) ------------------------------------------------------------------------

TEST(PathTest, Utf8AddressesAreFlagged) {
    Path path = recipient("<\xc3\xbcser@example.com>");  // üser
    EXPECT_TRUE(path.has_utf8);
    EXPECT_EQ(path.local_part, "\xc3\xbcser");
    path = recipient("<user@b\xc3\xbc\x63her.example>");  // bücher
    EXPECT_TRUE(path.has_utf8);
    EXPECT_EQ(path.domain, "b\xc3\xbc\x63her.example");
    // 用户@例子.广告
    path =
        recipient("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>");
    EXPECT_TRUE(path.has_utf8);
    path = recipient("<\"\xc3\xbc x\"@example.com>");
    EXPECT_TRUE(path.has_utf8);
    path = recipient("<\xf0\x9f\x93\xa7@example.com>");  // U+1F4E7
    EXPECT_TRUE(path.has_utf8);
    EXPECT_FALSE(recipient("<user@example.com>").has_utf8);
}

TEST(PathTest, Utf8AndSmtpUtf8ThroughMail) {
    const Command command = parse_command(
        "MAIL FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a> "
        "SMTPUTF8");
    ASSERT_TRUE(std::holds_alternative<Mail>(command));
    EXPECT_TRUE(std::get<Mail>(command).reverse_path.has_utf8);
    EXPECT_TRUE(std::get<Mail>(command).parameters.smtputf8);
    // Without SMTPUTF8 the parser still accepts; the session refuses with 553 5.6.7.
    const Command plain = parse_command("MAIL FROM:<\xc3\xbc@example.com>");
    ASSERT_TRUE(std::holds_alternative<Mail>(plain));
    EXPECT_TRUE(std::get<Mail>(plain).reverse_path.has_utf8);
    EXPECT_FALSE(std::get<Mail>(plain).parameters.smtputf8);
}

TEST(PathTest, MalformedUtf8IsRefusedWith553) {
    const SyntaxReply recipient_reply{553, "5.1.3", "Recipient address is not valid UTF-8"};
    const SyntaxReply sender_reply{553, "5.1.7", "Sender address is not valid UTF-8"};
    for (const char* local :
         {"\x80", "\xbf", "\xc3", "\xc3x", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf",
          "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf",
          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "\xfe",
          "\xe2\x82", "\xf0\x9f\x93"}) {
        const std::string address = std::string("<") + local + "@example.com>";
        EXPECT_EQ(recipient_refused(address), recipient_reply) << address;
        EXPECT_EQ(sender_refused(address), sender_reply) << address;
    }
    EXPECT_EQ(recipient_refused("<user@b\xc3.example>"), recipient_reply);
    const Command command = parse_command("RCPT TO:<\xed\xa0\x80@example.com>");
    ASSERT_TRUE(std::holds_alternative<Invalid>(command));
    EXPECT_EQ(std::get<Invalid>(command).reply.code, 553);
}

TEST(PathTest, BoundaryCodePointsAreWellFormed) {
    for (const char* local :
         {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
          "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
        EXPECT_TRUE(recipient_ok(std::string("<") + local + "@example.com>")) << local;
    }
}

// Decodes one scalar value the slow way, to compare is_valid_utf8 against on every short input.
bool reference_valid_utf8(const unsigned char* bytes, std::size_t size) {
    std::size_t index = 0;
    while (index < size) {
        const unsigned lead = bytes[index];
        std::size_t length = lead < 0x80         ? 1
                             : (lead >> 5) == 6  ? 2
                             : (lead >> 4) == 14 ? 3
                             : (lead >> 3) == 30 ? 4
                                                 : 0;
        if (length == 0 || index + length > size) {
            return false;
        }
        std::uint32_t value = length == 1 ? lead : lead & (0x7F >> length);
        for (std::size_t k = 1; k < length; ++k) {
            if ((bytes[index + k] & 0xC0) != 0x80) {
                return false;
            }
            value = value << 6 | (bytes[index + k] & 0x3F);
        }
        const std::uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
        if (value < minimum[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
            return false;
        }
        index += length;
    }
    return true;
}

TEST(Utf8Test, AgreesWithAReferenceDecoderOnAllShortSequences) {
    unsigned char bytes[4];
    int checked = 0;
    for (unsigned a = 0; a < 256; ++a) {
        bytes[0] = static_cast<unsigned char>(a);
        ASSERT_EQ(is_valid_utf8({reinterpret_cast<char*>(bytes), 1}),
                  reference_valid_utf8(bytes, 1));
        for (unsigned b = 0; b < 256; ++b) {
            bytes[1] = static_cast<unsigned char>(b);
            ASSERT_EQ(is_valid_utf8({reinterpret_cast<char*>(bytes), 2}),
                      reference_valid_utf8(bytes, 2))
                << a << " " << b;
            if (a < 0xE0) {
                continue;
            }
            for (unsigned c = 0x70; c < 0xD0; ++c) {
                bytes[2] = static_cast<unsigned char>(c);
                ASSERT_EQ(is_valid_utf8({reinterpret_cast<char*>(bytes), 3}),
                          reference_valid_utf8(bytes, 3))
                    << a << " " << b << " " << c;
                bytes[3] = 0xBF;
                ASSERT_EQ(is_valid_utf8({reinterpret_cast<char*>(bytes), 4}),
                          reference_valid_utf8(bytes, 4))
                    << a << " " << b << " " << c;
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 500000);
}

TEST(Utf8Test, LongInputs) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8(std::string(1000, 'a')));
    std::string text(1000, 'a');
    text += "\xc3\xa9";
    EXPECT_TRUE(is_valid_utf8(text));
    text.push_back('\xc3');
    EXPECT_FALSE(is_valid_utf8(text));
    EXPECT_FALSE(is_valid_utf8(std::string(1000, 'a') + "\x80" + std::string(7, 'b')));
}

}  // namespace
}  // namespace relay::smtp
