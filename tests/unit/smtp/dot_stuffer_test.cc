// dot_stuffer_test.cc -- unit tests of dot-stuffing across pieces: fixed cases (dots at line
// starts, CR LF split between pieces, empty pieces, an empty text), the zero-copy promise, the
// memory bound, and random texts cut at random points against a one-octet-at-a-time reference.
#include "relay/smtp/dot_stuffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace relay::smtp {
namespace {

// The reference: RFC 5321 §4.5.2 read literally, one octet at a time.
std::string reference_stuffed(std::string_view text) {
    std::string out;
    bool line_start = true;
    for (const char c : text) {
        if (line_start && c == '.') {
            out.push_back('.');
        }
        out.push_back(c);
        line_start = c == '\n';
    }
    return out;
}

// Stuffs `text` cut at `cuts` (offsets, ascending) with one stuffer.
std::string stuffed_in_pieces(std::string_view text, const std::vector<std::size_t>& cuts) {
    DotStuffer stuffer;
    std::string out;
    std::size_t begin = 0;
    for (const std::size_t cut : cuts) {
        out += stuffer.stuff(text.substr(begin, cut - begin));
        begin = cut;
    }
    out += stuffer.stuff(text.substr(begin));
    return out;
}

TEST(DotStuffer, DoublesDotsThatStartALine) {
    static constexpr std::string_view text =
        ".starts with a dot\r\n"
        "..two dots\r\n"
        "middle . dot\r\n"
        ".\r\n"
        "\r\n"
        ". \r\n"
        "bare lf\n.after bare lf\r\n"
        "bare cr\r.no line start\r\n"
        "last line without CRLF .";
    DotStuffer stuffer;
    EXPECT_EQ(stuffer.stuff(text),
              "..starts with a dot\r\n"
              "...two dots\r\n"
              "middle . dot\r\n"
              "..\r\n"
              "\r\n"
              ".. \r\n"
              "bare lf\n..after bare lf\r\n"
              "bare cr\r.no line start\r\n"
              "last line without CRLF .");
    EXPECT_FALSE(stuffer.line_start());
}

TEST(DotStuffer, LineStartCarriesAcrossPieces) {
    DotStuffer stuffer;
    EXPECT_TRUE(stuffer.line_start());
    EXPECT_EQ(stuffer.stuff("a\r"), "a\r");  // the piece ends between CR and LF
    EXPECT_FALSE(stuffer.line_start());
    EXPECT_EQ(stuffer.stuff("\n"), "\n");
    EXPECT_TRUE(stuffer.line_start());
    EXPECT_EQ(stuffer.stuff(""), "");  // an empty piece changes nothing
    EXPECT_TRUE(stuffer.line_start());
    EXPECT_EQ(stuffer.stuff(".x"), "..x");
    EXPECT_FALSE(stuffer.line_start());
    EXPECT_EQ(stuffer.stuff(".y\r\n"), ".y\r\n");  // mid-line: not a line start
    EXPECT_EQ(stuffer.stuff("."), "..");
    EXPECT_EQ(stuffer.stuff("."), ".");
}

TEST(DotStuffer, EmptyText) {
    DotStuffer stuffer;
    EXPECT_EQ(stuffer.stuff(""), "");
    EXPECT_TRUE(stuffer.line_start());
}

TEST(DotStuffer, PieceWithoutDotsIsReturnedAsIs) {
    DotStuffer stuffer;
    const std::string text = "Subject: x\r\n\r\nno dot at a line start. Not here.\r\nnor here";
    const std::string_view out = stuffer.stuff(text);
    EXPECT_EQ(out.data(), text.data());
    EXPECT_EQ(out.size(), text.size());
    // After a piece that needed a copy, the next clean piece is again not copied.
    EXPECT_EQ(stuffer.stuff("\r\n.dot\r\n"), "\r\n..dot\r\n");
    const std::string clean = "clean\r\n";
    EXPECT_EQ(stuffer.stuff(clean).data(), clean.data());
}

TEST(DotStuffer, CopyIsBoundedByTwiceThePiece) {
    DotStuffer stuffer;
    const std::string worst(64 * 1024, '\n');
    std::string dots;
    for (std::size_t index = 0; index < 32 * 1024; ++index) {
        dots += ".\n";  // every line a lone dot: the copy is 1.5 times the piece
    }
    EXPECT_EQ(stuffer.stuff(worst).data(), worst.data());
    EXPECT_EQ(stuffer.stuff(dots), reference_stuffed(dots));
    EXPECT_EQ(stuffer.stuff("."), "..");  // the worst case: a piece that is one line-start dot
    stuffer.release();
    EXPECT_EQ(stuffer.stuff("\n.\n"), "\n..\n");
}

TEST(DotStuffer, EveryTwoCutsOfAFixedTextMatchTheReference) {
    static constexpr std::string_view text = ".a\r\n..\r\n.\r\n\r\n.\n.\r.\r\n.";
    const std::string expected = reference_stuffed(text);
    for (std::size_t first = 0; first <= text.size(); ++first) {
        for (std::size_t second = first; second <= text.size(); ++second) {
            EXPECT_EQ(stuffed_in_pieces(text, {first, second}), expected)
                << "cuts " << first << ", " << second;
        }
    }
}

TEST(DotStuffer, RandomTextsAndCutsMatchTheReference) {
    std::mt19937 random(20240611);
    static constexpr std::string_view alphabet = "..\r\n\nab";
    for (int round = 0; round < 2000; ++round) {
        const std::size_t size = std::uniform_int_distribution<std::size_t>(0, 200)(random);
        std::string text;
        for (std::size_t index = 0; index < size; ++index) {
            text += alphabet[std::uniform_int_distribution<std::size_t>(0, 6)(random)];
        }
        std::vector<std::size_t> cuts;
        const std::size_t count = std::uniform_int_distribution<std::size_t>(0, 12)(random);
        for (std::size_t index = 0; index < count; ++index) {
            cuts.push_back(std::uniform_int_distribution<std::size_t>(0, size)(random));
        }
        std::sort(cuts.begin(), cuts.end());  // equal cuts give empty pieces
        EXPECT_EQ(stuffed_in_pieces(text, cuts), reference_stuffed(text)) << "round " << round;
    }
}

}  // namespace
}  // namespace relay::smtp
