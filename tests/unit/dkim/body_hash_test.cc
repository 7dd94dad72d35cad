// body_hash_test.cc -- the streaming body hash against RFC vectors, hand-made edge cases, a
// reference canonicalization under random splits, and behind the real message pass.
#include "relay/dkim/body_hash.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "relay/message/message_pass.h"
#include "support.h"

namespace relay::dkim {
namespace {

using test_support::base64;
using test_support::reference;
using test_support::sha256;

Sha256Digest hash_in_pieces(Canonicalization canonicalization,
                            const std::vector<std::string>& pieces) {
    BodyHasher hasher(canonicalization);
    for (const std::string& piece : pieces) {
        hasher.body(piece);
    }
    return hasher.finish();
}

Sha256Digest hash_whole(Canonicalization canonicalization, std::string_view body) {
    BodyHasher hasher(canonicalization);
    hasher.body(body);
    return hasher.finish();
}

// Every way of cutting `body` in two and in three pieces.
void expect_split_invariant(Canonicalization canonicalization, const std::string& body,
                            const std::string& canonical) {
    const Sha256Digest expected = sha256(canonical);
    ASSERT_EQ(hash_whole(canonicalization, body), expected) << "body: " << body;
    for (std::size_t first = 0; first <= body.size(); ++first) {
        for (std::size_t second = first; second <= body.size(); ++second) {
            const std::vector<std::string> pieces = {
                body.substr(0, first), body.substr(first, second - first), body.substr(second)};
            ASSERT_EQ(hash_in_pieces(canonicalization, pieces), expected)
                << "split at " << first << " and " << second << " of: " << body;
        }
    }
}

constexpr std::string_view rfc6376_body =
    "Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n";
constexpr std::string_view rfc8463_body =
    "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n";

TEST(BodyHash, Rfc6376AppendixASimpleBodyHash) {
    // RFC 6376 A.2: c=simple/simple, bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=.
    EXPECT_EQ(base64(hash_whole(Canonicalization::simple, rfc6376_body)),
              "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
}

TEST(BodyHash, Rfc8463AppendixARelaxedBodyHash) {
    // RFC 8463 A.3: the same text with a double space and a trailing empty line, relaxed.
    EXPECT_EQ(base64(hash_whole(Canonicalization::relaxed, rfc8463_body)),
              "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
    // Simple keeps the double space: a different hash (python3-dkim's rfc6376.signed.msg).
    EXPECT_EQ(base64(hash_whole(Canonicalization::simple, rfc8463_body)),
              "4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=");
}

TEST(BodyHash, EmptyBody) {
    // RFC 6376 §3.4.3: simple makes an empty body one CRLF; §3.4.4 (erratum 1377): relaxed
    // leaves it empty.
    EXPECT_EQ(base64(hash_whole(Canonicalization::relaxed, "")),
              "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    EXPECT_EQ(base64(hash_whole(Canonicalization::simple, "")),
              "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
    EXPECT_EQ(base64(hash_in_pieces(Canonicalization::relaxed, {"", "", ""})),
              "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

struct EdgeCase {
    std::string body;
    std::string simple;
    std::string relaxed;
};

TEST(BodyHash, EdgeCasesUnderEverySplit) {
    const std::vector<EdgeCase> edges = {
        // Only empty lines.
        {"\r\n\r\n\r\n", "\r\n", ""},
        // Empty lines made of whitespace are empty under relaxed only.
        {"a\r\n \t \r\n\t\r\n", "a\r\n \t \r\n\t\r\n", "a\r\n"},
        // No final CRLF.
        {"abc", "abc\r\n", "abc\r\n"},
        {"abc  \t", "abc  \t\r\n", "abc\r\n"},
        // Whitespace runs, inner and trailing, at the start of a line.
        {"a  b\t \r\n  c\t\td \r\n", "a  b\t \r\n  c\t\td \r\n", "a b\r\n c d\r\n"},
        // Inner empty lines stay, trailing ones go.
        {"a\r\n\r\n\r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n"},
        // A lone CR is an octet of the line, also at the very end.
        {"a\rb\r\n", "a\rb\r\n", "a\rb\r\n"},
        {"a\r", "a\r\r\n", "a\r\r\n"},
        {"a \r b\r\n", "a \r b\r\n", "a \r b\r\n"},
        {"a \r\r\n", "a \r\r\n", "a \r\r\n"},
        {"\r", "\r\r\n", "\r\r\n"},
        {"\r\r\n\r\n", "\r\r\n", "\r\r\n"},
        // A lone LF is an octet too.
        {"a\nb \n\r\n", "a\nb \n\r\n", "a\nb \n\r\n"},
        // Whitespace only, no line end.
        {" \t ", " \t \r\n", ""},
        // 8-bit UTF-8 is bytes like any other.
        {"caf\xc3\xa9  \xe2\x82\xac\r\n", "caf\xc3\xa9  \xe2\x82\xac\r\n",
         "caf\xc3\xa9 \xe2\x82\xac\r\n"},
    };
    for (const EdgeCase& edge : edges) {
        ASSERT_EQ(test_support::reference_simple(edge.body), edge.simple) << edge.body;
        ASSERT_EQ(test_support::reference_relaxed(edge.body), edge.relaxed) << edge.body;
        expect_split_invariant(Canonicalization::simple, edge.body, edge.simple);
        expect_split_invariant(Canonicalization::relaxed, edge.body, edge.relaxed);
    }
}

TEST(BodyHash, WhitespaceAtEveryChunkBoundary) {
    // One octet per chunk: every held state meets a boundary.
    const std::string body = "x \t y  \r\n\t z \r\n \r\n\r\n";
    std::vector<std::string> octets;
    for (const char c : body) {
        octets.emplace_back(1, c);
    }
    EXPECT_EQ(hash_in_pieces(Canonicalization::relaxed, octets), sha256("x y\r\n z\r\n"));
    EXPECT_EQ(hash_in_pieces(Canonicalization::simple, octets),
              sha256("x \t y  \r\n\t z \r\n \r\n"));
}

TEST(BodyHash, ManyTrailingEmptyLinesKeepNoCopy) {
    // A million held line ends are a count, not a buffer: they are hashed only once content
    // follows them.
    std::string lines;
    for (int index = 0; index < 1000 * 1000; ++index) {
        lines += "\r\n";
    }
    BodyHasher hasher(Canonicalization::relaxed);
    hasher.body("top\r\n");
    hasher.body(lines);
    EXPECT_EQ(hasher.canonical_bytes(), 3u);  // "top", its CRLF held with the rest
    hasher.body("end");
    EXPECT_EQ(hasher.finish(), sha256("top\r\n" + lines + "end\r\n"));
}

// A random body from an alphabet that stresses the canonicalization: whitespace, CR, LF, text.
std::string random_body(std::mt19937_64& random, std::size_t size) {
    static constexpr std::string_view alphabet[] = {
        "a", "b", " ", " ", "\t", "\r\n", "\r\n", "\r", "\n", "\xc3\xa9", "word ", "  ", " \r\n"};
    std::string body;
    std::uniform_int_distribution<std::size_t> pick(0, std::size(alphabet) - 1);
    while (body.size() < size) {
        body += alphabet[pick(random)];
    }
    return body;
}

std::vector<std::string> random_split(std::mt19937_64& random, const std::string& body) {
    std::vector<std::string> pieces;
    std::size_t position = 0;
    std::uniform_int_distribution<std::size_t> length(0, 40);
    while (position < body.size()) {
        const std::size_t take = std::min(length(random), body.size() - position);
        pieces.push_back(body.substr(position, take));
        position += take;
    }
    return pieces;
}

TEST(BodyHash, RandomBodiesRandomSplitsMatchTheReference) {
    std::mt19937_64 random(20261201);
    std::uniform_int_distribution<std::size_t> size(0, 300);
    for (int round = 0; round < 20000; ++round) {
        const std::string body = random_body(random, size(random));
        const auto pieces = random_split(random, body);
        for (const Canonicalization canonicalization :
             {Canonicalization::simple, Canonicalization::relaxed}) {
            ASSERT_EQ(hash_in_pieces(canonicalization, pieces),
                      sha256(reference(canonicalization, body)))
                << "round " << round << " body: " << body;
        }
    }
}

TEST(BodyHash, LongRandomBodiesUseTheWideScan) {
    // Long runs of plain text with rare whitespace anomalies cross the 16-octet scan's edges.
    std::mt19937_64 random(7);
    for (int round = 0; round < 200; ++round) {
        std::string body;
        std::uniform_int_distribution<int> kind(0, 99);
        while (body.size() < 20000) {
            const int k = kind(random);
            body += k < 80 ? "text " : k < 90 ? "\r\n" : k < 94 ? "  " : k < 97 ? "\t" : " \r\n";
        }
        const auto pieces = random_split(random, body);
        ASSERT_EQ(hash_in_pieces(Canonicalization::relaxed, pieces),
                  sha256(test_support::reference_relaxed(body)))
            << "round " << round;
        ASSERT_EQ(hash_whole(Canonicalization::relaxed, body),
                  sha256(test_support::reference_relaxed(body)));
    }
}

struct NullSink final : message::Sink {
    void append(std::string_view) override {}
};

TEST(BodyHash, FedByTheMessagePass) {
    // The message pass hands the body (after the header block) to its observer: the same hash
    // as hashing that body whole, whatever the BDAT chunk sizes were.
    const std::string message =
        "From: a@example.com\r\nSubject: hi\r\n\r\nline one  \r\n\r\n\tline two\r\n\r\n\r\n";
    const std::string body = message.substr(message.find("\r\n\r\n") + 4);
    for (std::size_t chunk = 1; chunk <= message.size(); ++chunk) {
        message::PassLimits limits;
        message::MessagePass pass(limits);
        NullSink sink;
        BodyHasher hasher(Canonicalization::relaxed);
        pass.start(false);
        std::string copy = message;
        for (std::size_t offset = 0; offset < copy.size(); offset += chunk) {
            const std::size_t take = std::min(chunk, copy.size() - offset);
            pass.feed_chunk(std::span<char>(copy.data() + offset, take), sink, &hasher);
        }
        pass.finish_chunks(sink, &hasher);
        ASSERT_EQ(pass.outcome().verdict, message::Verdict::accepted);
        ASSERT_EQ(hasher.finish(), sha256("line one\r\n\r\n line two\r\n")) << chunk;
    }
}

}  // namespace
}  // namespace relay::dkim
