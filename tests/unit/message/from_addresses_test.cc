// from_addresses_test.cc -- the domains of the From field: real-world forms, obsolete syntax,
// folding, UTF-8, and the sender-spoofing tricks that must be refused (duplicated fields,
// display names that look like addresses, comments and quoted strings holding addresses,
// folding that a lax parser joins into another domain, NUL and bare CR).
#include "relay/message/from_addresses.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "pass_driver.h"

namespace relay::message {
namespace {

using Domains = std::vector<std::string>;

// The domains, or the refusal's name prefixed with '!' (one value for EXPECT_EQ to print).
Domains parse(std::string_view value, std::size_t mailboxes_max = from_mailboxes_max_default) {
    const FromAddresses result = parse_from_value(value, mailboxes_max);
    if (const auto* refusal = std::get_if<FromRefusal>(&result)) {
        return {"!" + std::string(from_refusal_name(*refusal))};
    }
    return std::get<FromDomains>(result).domains;
}

const Domains unparsable = {"!unparsable"};
const Domains no_domain = {"!no_domain"};

TEST(FromAddresses, CommonForms) {
    EXPECT_EQ(parse("alice@example.com"), Domains{"example.com"});
    EXPECT_EQ(parse("<alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("Alice Example <alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("\"Example, Alice\" <alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("\"alice@example.com\" <alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("alice@example.com (Alice Example)"), Domains{"example.com"});
    EXPECT_EQ(parse("John Q. Public <john.q.public@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("=?UTF-8?B?w4FsaWNl?= <alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("Alice <alice@Mail.EXAMPLE.com>"), Domains{"mail.example.com"});
    EXPECT_EQ(parse("alice+tag@example.com"), Domains{"example.com"});
    EXPECT_EQ(parse("\"john doe\"@example.com"), Domains{"example.com"});
    EXPECT_EQ(parse("\"john.doe\"@example.com"), Domains{"example.com"});
    EXPECT_EQ(parse("\"Joe Q. Public\" <john.q.public@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>"),
              Domains{"example.net"});
}

TEST(FromAddresses, SeveralMailboxesInOrder) {
    EXPECT_EQ(parse("a@one.example, Bee <b@Two.example>, c@one.example"),
              (Domains{"one.example", "two.example", "one.example"}));
    EXPECT_EQ(parse("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
              unparsable);  // comments inside the addr-spec are refused
    EXPECT_EQ(parse(", a@x.example , ,b@y.example,"), (Domains{"x.example", "y.example"}));
}

TEST(FromAddresses, CommentsFoldingAndWhitespace) {
    EXPECT_EQ(parse("(a (nested \\( comment) here) Alice <alice@example.com> (trailing)"),
              Domains{"example.com"});
    EXPECT_EQ(parse("Alice\r\n Example\r\n\t<alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("\"Alice\r\n Example\" <alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("Alice < alice@example.com >"), Domains{"example.com"});
    EXPECT_EQ(parse("alice@example.com\r\n (Alice)"), Domains{"example.com"});
}

TEST(FromAddresses, ObsoleteSyntax) {
    EXPECT_EQ(parse("<@relay.one,@relay.two:alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("Alice <@relay.one, ,@relay.two:alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("<@relay.one:alice@example.com>"), Domains{"example.com"});
    EXPECT_EQ(parse("<@:alice@example.com>"), unparsable);
    EXPECT_EQ(parse("<@relay.one alice@example.com>"), unparsable);
    EXPECT_EQ(parse("john.\"q\".public@example.com"), Domains{"example.com"});
    EXPECT_EQ(parse("Mr. Smith <smith@example.com>"), Domains{"example.com"});
}

TEST(FromAddresses, DomainForms) {
    EXPECT_EQ(parse("alice@example.com."), Domains{"example.com"});
    EXPECT_EQ(parse("Alice <alice@EXAMPLE.com.>"), Domains{"example.com"});
    EXPECT_EQ(parse("alice@[192.0.2.1]"), Domains{"[192.0.2.1]"});
    EXPECT_EQ(parse("alice@[IPv6:2001:DB8::1]"), Domains{"[ipv6:2001:db8::1]"});
    EXPECT_EQ(parse("alice@xn--bcher-kva.example"), Domains{"xn--bcher-kva.example"});
    EXPECT_EQ(parse("alice@example..com"), unparsable);
    EXPECT_EQ(parse("alice@.example.com"), unparsable);
    EXPECT_EQ(parse("alice@example.com.."), unparsable);
    EXPECT_EQ(parse("alice@[]"), unparsable);
    EXPECT_EQ(parse("alice@[192.0.2.1 ]"), unparsable);
    EXPECT_EQ(parse("x@[192.0.\"evil\"@bad.example.2.7]"), unparsable);
    EXPECT_EQ(parse("x@[192.0.2.7(x)]"), unparsable);
    EXPECT_EQ(parse("x@[<evil@bad.example>]"), unparsable);
    EXPECT_EQ(parse("alice@under_score.example"), unparsable);
    EXPECT_EQ(parse("alice@ex$ample.com"), unparsable);
}

TEST(FromAddresses, Utf8) {
    EXPECT_EQ(parse("Ålice Ëxample <ålice@bücher.example>"), Domains{"bücher.example"});
    EXPECT_EQ(parse("用户@例子.广告"), Domains{"例子.广告"});
    EXPECT_EQ(parse("\"Zoë\" <zoe@EXAMPLE.org>"), Domains{"example.org"});
    // Only ASCII is lower-cased: the caller's IDNA mapping handles the rest.
    EXPECT_EQ(parse("a@ÄBC.example"), Domains{"Äbc.example"});
    EXPECT_EQ(parse("a@b\xC3.example"), unparsable);                 // truncated sequence
    EXPECT_EQ(parse("a@\xC0\xAE.example"), unparsable);              // overlong
    EXPECT_EQ(parse("a@\xED\xA0\x80.example"), unparsable);          // surrogate
    EXPECT_EQ(parse("\"\xFF\" <a@b.example>"), unparsable);          // in a quoted string
    EXPECT_EQ(parse("(\xF5\x80\x80\x80) a@b.example"), unparsable);  // in a comment
}

TEST(FromAddresses, NoDomain) {
    EXPECT_EQ(parse("alice"), no_domain);
    EXPECT_EQ(parse("<alice>"), no_domain);
    EXPECT_EQ(parse("Alice <alice>"), no_domain);
    EXPECT_EQ(parse("<>"), no_domain);
    EXPECT_EQ(parse("a@x.example, bob"), no_domain);
    EXPECT_EQ(parse("alice@"), unparsable);
    EXPECT_EQ(parse("@example.com"), unparsable);
}

TEST(FromAddresses, NotAMailboxList) {
    EXPECT_EQ(parse(""), unparsable);
    EXPECT_EQ(parse("   "), unparsable);
    EXPECT_EQ(parse("(only a comment)"), unparsable);
    EXPECT_EQ(parse(","), unparsable);
    EXPECT_EQ(parse("Alice Example"), unparsable);
    EXPECT_EQ(parse("undisclosed-recipients:;"), unparsable);
    EXPECT_EQ(parse("Team: a@x.example, b@y.example;"), unparsable);
    EXPECT_EQ(parse("Alice <alice@example.com"), unparsable);
    EXPECT_EQ(parse("Alice alice@example.com>"), unparsable);
    EXPECT_EQ(parse("\"Alice <alice@example.com>"), unparsable);
    EXPECT_EQ(parse("(Alice alice@example.com"), unparsable);
    EXPECT_EQ(parse("Alice) <alice@example.com>"), unparsable);
    EXPECT_EQ(parse("a@x.example;b@y.example"), unparsable);
}

TEST(FromAddresses, TooMany) {
    EXPECT_EQ(parse("a@x.example, b@y.example", 2), (Domains{"x.example", "y.example"}));
    EXPECT_EQ(parse("a@x.example, b@y.example, c@z.example", 2), Domains{"!too_many"});
    std::string many;
    for (int index = 0; index < 101; ++index) {
        many += "u@d" + std::to_string(index) + ".example,";
    }
    EXPECT_EQ(parse(many), Domains{"!too_many"});
}

// Each of these is read one way by a strict parser and another way by a lax one (a regular
// expression for "<...>" or "x@y", a parser that ignores quotes, comments or escapes, one that
// unfolds by deleting CRLF with the whitespace): refused, so that no wrong domain is accepted.
TEST(FromAddresses, SpoofingTricksAreRefused) {
    EXPECT_EQ(parse("a@good.example <evil@bad.example>"), unparsable);
    EXPECT_EQ(parse("evil@bad.example <a@good.example>"), unparsable);
    EXPECT_EQ(parse("Alice <a@good.example> <evil@bad.example>"), unparsable);
    EXPECT_EQ(parse("<a@good.example> evil@bad.example"), unparsable);
    EXPECT_EQ(parse("<a@good.example>evil@bad.example"), unparsable);
    EXPECT_EQ(parse("a@good.example evil@bad.example"), unparsable);
    EXPECT_EQ(parse("(evil@bad.example) a@good.example"), unparsable);
    EXPECT_EQ(parse("a@good.example (<evil@bad.example>)"), unparsable);
    EXPECT_EQ(parse("a@good.example (\\<evil\\@bad.example\\>)"), unparsable);
    EXPECT_EQ(parse("\"<evil@bad.example>\"@good.example"), unparsable);
    EXPECT_EQ(parse("<\"evil@bad.example\"@good.example>"), unparsable);
    EXPECT_EQ(parse("\"a\\\"@bad.example\"@good.example"), unparsable);
    EXPECT_EQ(parse("\"Alice <evil@bad.example>\" <a@good.example>"), unparsable);
    EXPECT_EQ(parse("\"Alice \\<evil@bad.example\\>\" <a@good.example>"), unparsable);
    EXPECT_EQ(parse("a@goo\r\n d.example"), unparsable);
    EXPECT_EQ(parse("a@good\r\n .example"), unparsable);
    EXPECT_EQ(parse("a@good.\r\n example"), unparsable);
    EXPECT_EQ(parse("a @good.example"), unparsable);
    EXPECT_EQ(parse("a@ good.example"), unparsable);
    EXPECT_EQ(parse("a@good.example\r\nFrom: evil@bad.example"), unparsable);
    EXPECT_EQ(parse("a@good.example\nevil@bad.example"), unparsable);
    EXPECT_EQ(parse("a@good.example\revil@bad.example"), unparsable);
    EXPECT_EQ(parse(std::string_view("a@good.example\0evil@bad.example", 31)), unparsable);
    EXPECT_EQ(parse(std::string_view("a@bad.example\0.good.example", 27)), unparsable);
    EXPECT_EQ(parse("a@bad.example\x01.good.example"), unparsable);
    EXPECT_EQ(parse("\"\x7F\" <a@good.example>"), unparsable);
    // An encoded-word is an atom of the display name, never decoded into an address.
    EXPECT_EQ(parse("=?utf-8?q?evil=40bad=2Eexample?= <a@good.example>"), Domains{"good.example"});
    EXPECT_EQ(parse("=?utf-8?b?PGV2aWxAYmFkLmV4YW1wbGU+?= <a@good.example>"),
              Domains{"good.example"});
    // ... and no part of an address: its '?' and '=' are no domain octets.
    EXPECT_EQ(parse("=?utf-8?q?evil@bad.example?="), unparsable);
    EXPECT_EQ(parse("=?utf-8?q?a?=@good.example"), unparsable);
    EXPECT_EQ(parse("a@good.example,evil@bad.example"),
              (Domains{"good.example", "bad.example"}));  // both come back: the caller checks all
}

// --- the field in a header block ------------------------------------------------------------

FromAddresses of_headers(const std::string& header_block) {
    const test_support::PassRun run =
        test_support::run_bdat(PassLimits{}, header_block + "\r\nbody\r\n", {});
    return from_addresses(run.headers, from_mailboxes_max_default);
}

Domains headers(const std::string& header_block) {
    const FromAddresses result = of_headers(header_block);
    if (const auto* refusal = std::get_if<FromRefusal>(&result)) {
        return {"!" + std::string(from_refusal_name(*refusal))};
    }
    return std::get<FromDomains>(result).domains;
}

// --- randomized: From fields built from a small grammar around known addresses ---------------

struct Address {
    std::string local_part;
    std::string domain;    // as written
    std::string expected;  // as returned
};

const std::vector<Address> known_addresses = {
    {"alice", "example.com", "example.com"},
    {"Bob.Smith", "Mail.Example.ORG", "mail.example.org"},
    {"c+tag", "sub.domain.example.", "sub.domain.example"},
    {"\"john doe\"", "xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"ålice", "bücher.example", "bücher.example"},
    {"x", "[192.0.2.7]", "[192.0.2.7]"},
    {"first.\"middle\".last", "a-b.example", "a-b.example"},
    {"用户", "例子.广告", "例子.广告"},
};

class FieldBuilder {
  public:
    // `hostile`: comments, display names and addresses also get pieces that a lax parser reads
    // as the address evil@bad.example; the strict reading of the field is unchanged by them.
    FieldBuilder(std::uint32_t seed, bool hostile) : random_(seed), hostile_(hostile) {}

    std::string field(std::vector<std::string>& expected) {
        std::string text = maybe_cfws();
        const std::size_t mailboxes = 1 + pick(4);
        for (std::size_t index = 0; index < mailboxes; ++index) {
            if (index != 0) {
                text += ',' + maybe_cfws();
                if (pick(8) == 0) {
                    text += ',' + maybe_cfws();  // an empty element
                }
            }
            const Address& address = known_addresses[pick(known_addresses.size())];
            expected.push_back(address.expected);
            text += mailbox(address);
        }
        return text;
    }

  private:
    std::size_t pick(std::size_t count) { return random_() % count; }

    std::string comment() {
        static const std::vector<std::string> hostile_texts = {
            "evil@bad.example", "<evil@bad.example>", "\\<evil\\@bad.example\\>",
            "x (evil@bad.example)"};
        if (hostile_ && pick(4) == 0) {
            return "(" + hostile_texts[pick(hostile_texts.size())] + ")";
        }
        static const std::vector<std::string> texts = {
            "Alice", "a, b; c: d", "nested (inner \\) text)", "\\(", "Zoë", "\"quoted\"", ""};
        return "(" + texts[pick(texts.size())] + ")";
    }

    std::string cfws() {
        static const std::vector<std::string> spaces = {" ", "\t", "\r\n ", "\r\n\t", "  "};
        std::string text = spaces[pick(spaces.size())];
        if (pick(3) == 0) {
            text += comment() + spaces[pick(spaces.size())];
        }
        return text;
    }

    std::string maybe_cfws() { return pick(2) == 0 ? cfws() : ""; }

    std::string word() {
        static const std::vector<std::string> hostile_words = {
            "\"<evil@bad.example>\"",       "\"\\<evil@bad.example\\>\"", "evil@bad.example",
            "=?utf-8?q?evil@bad.example?=", "<evil@bad.example>",         "\"x\"evil@bad.example"};
        if (hostile_ && pick(4) == 0) {
            return hostile_words[pick(hostile_words.size())];
        }
        static const std::vector<std::string> words = {"Alice",
                                                       "O'Brien",
                                                       "J.",
                                                       "\"Smith, John\"",
                                                       "\"a@b.example\"",
                                                       "\"say \\\"hi\\\"\"",
                                                       "=?utf-8?q?=C3=85lice?=",
                                                       "=?utf-8?b?PGV2aWxAYmFkPg==?=",
                                                       "Zoë",
                                                       "\"Dr.\"",
                                                       "R&D"};
        return words[pick(words.size())];
    }

    std::string display_name() {
        std::string text = word();
        const std::size_t more = pick(4);
        for (std::size_t index = 0; index < more; ++index) {
            text += (pick(4) == 0 ? "." : cfws()) + word();
        }
        return text;
    }

    std::string mailbox(const Address& address) {
        std::string addr_spec = address.local_part + "@" + address.domain;
        if (hostile_ && pick(6) == 0) {
            // Folding or a piece inside the address: "a@goo\r\n d.example".
            static const std::vector<std::string> pieces = {
                "\r\n ", " ", "(x)", "\n", "\r", std::string(1, '\0'), "\"evil\"@bad.example"};
            const std::size_t at = 1 + pick(addr_spec.size() - 1);
            addr_spec.insert(at, pieces[pick(pieces.size())]);
        }
        if (pick(3) == 0) {
            return addr_spec + maybe_cfws();
        }
        std::string text;
        if (pick(4) != 0) {
            text += display_name() + maybe_cfws();
        }
        text += "<" + maybe_cfws();
        if (pick(6) == 0) {
            text += "@relay.example,@[192.0.2.1]:";
        }
        return text + addr_spec + maybe_cfws() + ">" + maybe_cfws();
    }

    std::mt19937 random_;
    bool hostile_ = false;
};

TEST(FromAddressesRandom, FieldsYieldExactlyTheirDomains) {
    // RELAY_TEST_SEED repeats a run; the seed is printed either way.
    const char* fixed = std::getenv("RELAY_TEST_SEED");
    const std::uint32_t seed = fixed != nullptr
                                   ? static_cast<std::uint32_t>(std::strtoul(fixed, nullptr, 10))
                                   : std::random_device{}();
    std::printf("seed %u (RELAY_TEST_SEED)\n", seed);
    std::mt19937 seeds(seed);
    for (int round = 0; round < 5000; ++round) {
        const std::uint32_t round_seed = seeds();
        FieldBuilder builder(round_seed, false);
        std::vector<std::string> expected;
        const std::string field = builder.field(expected);
        EXPECT_EQ(parse(field), expected) << "seed " << round_seed << " field " << field;
        // The same field in a header block, folded as a client would send it.
        EXPECT_EQ(headers("Subject: x\r\nFrom: " + field + "\r\nTo: y@z.example\r\n"), expected)
            << "seed " << round_seed;
    }
}

// The same fields with hostile pieces in their comments, display names and addresses: each
// yields its true domains or a refusal, never bad.example; both outcomes occur.
TEST(FromAddressesRandom, HostileFieldsYieldTheirDomainsOrARefusal) {
    const char* fixed = std::getenv("RELAY_TEST_SEED");
    const std::uint32_t seed = fixed != nullptr
                                   ? static_cast<std::uint32_t>(std::strtoul(fixed, nullptr, 10))
                                   : std::random_device{}();
    std::printf("seed %u (RELAY_TEST_SEED)\n", seed);
    std::mt19937 seeds(seed);
    int accepted = 0;
    int refused = 0;
    for (int round = 0; round < 5000; ++round) {
        const std::uint32_t round_seed = seeds();
        FieldBuilder builder(round_seed, true);
        std::vector<std::string> expected;
        const std::string field = builder.field(expected);
        const Domains result = parse(field);
        if (result == expected) {
            ++accepted;
        } else {
            ++refused;
            EXPECT_EQ(result.size(), 1U) << "seed " << round_seed << " field " << field;
            EXPECT_TRUE(result.front().starts_with("!"))
                << "seed " << round_seed << " field " << field;
        }
    }
    EXPECT_GT(accepted, 500);
    EXPECT_GT(refused, 500);
}

TEST(FromAddressesInHeaders, ExactlyOneFromField) {
    EXPECT_EQ(headers("Subject: hi\r\nFrom: Alice <alice@Example.com>\r\nTo: b@x.example\r\n"),
              Domains{"example.com"});
    EXPECT_EQ(headers("fROM: a@x.example\r\n"), Domains{"x.example"});
    EXPECT_EQ(headers("From : a@x.example\r\n"), Domains{"x.example"});  // obs: WSP before ':'
    EXPECT_EQ(headers("From: Alice\r\n Example\r\n <alice@example.com>\r\n"),
              Domains{"example.com"});
    EXPECT_EQ(headers("Subject: hi\r\nTo: b@x.example\r\n"), Domains{"!missing"});
    EXPECT_EQ(headers("From: a@good.example\r\nFrom: evil@bad.example\r\n"), Domains{"!duplicate"});
    EXPECT_EQ(headers("From: a@good.example\r\nSubject: x\r\nfrom:evil@bad.example\r\n"),
              Domains{"!duplicate"});
    // A first line that starts with whitespace is no field for the index, but some parsers
    // strip the whitespace and read it as one.
    EXPECT_EQ(headers(" From: evil@bad.example\r\nFrom: a@good.example\r\n"),
              Domains{"!duplicate"});
    EXPECT_EQ(headers("From: \r\n"), Domains{"!unparsable"});
    // A folded line of another field belongs to that field for a strict parser, but one that
    // drops leading whitespace reads it as a From field.
    EXPECT_EQ(headers("Subject: hi\r\n From: evil@bad.example\r\nFrom: a@good.example\r\n"),
              Domains{"!duplicate"});
    EXPECT_EQ(headers("From: a@good.example,\r\n\tfrom :evil@bad.example\r\n"),
              Domains{"!duplicate"});
    EXPECT_EQ(headers("Subject: news from:\r\n the list\r\nFrom: a@good.example\r\n"),
              Domains{"good.example"});
    EXPECT_EQ(headers("Resent-From: x@other.example\r\nFrom: a@good.example\r\n"),
              Domains{"good.example"});
}

}  // namespace
}  // namespace relay::message
