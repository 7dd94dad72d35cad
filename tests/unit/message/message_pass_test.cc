// message_pass_test.cc -- behaviour of the message pass: DATA framing and dot-unstuffing, SMTP
// smuggling sequences, bare line endings, NUL octets, line length, buffer and chunk boundaries,
// UTF-8, limits, the header block and the body observer.
#include "relay/message/message_pass.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "pass_driver.h"

namespace relay::message {
namespace {

using test_support::Collector;
using test_support::PassRun;
using test_support::run_bdat;
using test_support::run_data;
using test_support::same_result;

PassLimits reject_limits() {
    return PassLimits{};
}

PassLimits normalize_limits() {
    PassLimits limits;
    limits.bare_line_endings = BareLineEndings::normalize;
    return limits;
}

// A std::string from a literal that holds NULs.
template <std::size_t size>
std::string bytes(const char (&literal)[size]) {
    return std::string(literal, size - 1);
}

// --- DATA framing and dot-unstuffing ---------------------------------------------------------

TEST(DotStuffing, PlainMessageEndsAtTerminatorAndKeepsItsLastCrLf) {
    const std::string input = "Subject: x\r\n\r\nbody\r\n.\r\n";
    const PassRun run = run_data(reject_limits(), input + "QUIT\r\n");
    EXPECT_TRUE(run.finished);
    EXPECT_EQ(run.consumed, input.size());
    EXPECT_EQ(run.stored, "Subject: x\r\n\r\nbody\r\n");
    EXPECT_EQ(run.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(run.outcome.stored_bytes, run.stored.size());
}

TEST(DotStuffing, TerminatorAtVeryStartIsAnEmptyMessage) {
    const PassRun run = run_data(reject_limits(), ".\r\nQUIT\r\n");
    EXPECT_TRUE(run.finished);
    EXPECT_EQ(run.consumed, 3u);
    EXPECT_EQ(run.stored, "");
    EXPECT_EQ(run.outcome.stored_bytes, 0u);
    EXPECT_FALSE(run.headers.complete);
    EXPECT_TRUE(run.headers.fields.empty());
}

TEST(DotStuffing, DoubledDotLineIsOneDot) {
    EXPECT_EQ(run_data(reject_limits(), "a\r\n..\r\nb\r\n.\r\n").stored, "a\r\n.\r\nb\r\n");
    EXPECT_EQ(run_data(reject_limits(), "..\r\n.\r\n").stored, ".\r\n");
    EXPECT_EQ(run_data(reject_limits(), "...\r\n.\r\n").stored, "..\r\n");
}

TEST(DotStuffing, LeadingDotRemovedOnlyAtLineStart) {
    EXPECT_EQ(run_data(reject_limits(), ".a\r\n.\r\n").stored, "a\r\n");
    EXPECT_EQ(run_data(reject_limits(), "x\r\n..a.b.\r\n.\r\n").stored, "x\r\n.a.b.\r\n");
    EXPECT_EQ(run_data(reject_limits(), "a.\r\n.\r\n").stored, "a.\r\n");
    EXPECT_EQ(run_data(reject_limits(), "x\r\n. \r\n.\r\n").stored, "x\r\n \r\n");
}

TEST(DotStuffing, EmptyLineBeforeTerminatorIsStored) {
    const PassRun run = run_data(reject_limits(), "\r\n.\r\n");
    EXPECT_TRUE(run.finished);
    EXPECT_EQ(run.stored, "\r\n");
    EXPECT_TRUE(run.headers.complete);
}

TEST(DotStuffing, ManyDotLinesGiveOneAppendPerRunNotPerLine) {
    std::string input;
    std::string expected;
    for (int line = 0; line < 100; ++line) {
        input += "..stuffed line\r\nplain line one\r\nplain line two\r\n";
        expected += ".stuffed line\r\nplain line one\r\nplain line two\r\n";
    }
    const PassRun run = run_data(reject_limits(), input + ".\r\n");
    EXPECT_EQ(run.stored, expected);
    // One run before the first removed dot (empty here) is skipped; then one per removed dot.
    EXPECT_EQ(run.append_calls, 100u);
}

TEST(DotStuffing, PlainBufferIsOneAppend) {
    std::string input;
    for (int line = 0; line < 800; ++line) {
        input += std::string(76, 'x') + "\r\n";
    }
    const PassRun run = run_data(reject_limits(), input + ".\r\n");
    EXPECT_EQ(run.append_calls, 1u);
    EXPECT_EQ(run.stored, input);
}

TEST(DotStuffing, BytesAfterTerminatorAreLeftUnconsumed) {
    const std::string message = "a\r\n..b\r\n.\r\n";
    const std::string next = "MAIL FROM:<x@example.com>\r\nRCPT TO:<y@example.com>\r\n";
    const PassRun run = run_data(reject_limits(), message + next);
    EXPECT_TRUE(run.finished);
    EXPECT_EQ(run.consumed, message.size());

    // The same when the terminator is split: `consumed` is relative to the last buffer.
    MessagePass pass(reject_limits());
    Collector collector;
    pass.start(true);
    std::string first = "a\r\n.";
    std::string second = "\r\n" + next;
    auto fed = pass.feed_dot_stuffed(first, collector, nullptr);
    EXPECT_FALSE(fed.finished);
    EXPECT_EQ(fed.consumed, first.size());
    fed = pass.feed_dot_stuffed(second, collector, nullptr);
    EXPECT_TRUE(fed.finished);
    EXPECT_EQ(fed.consumed, 2u);
    EXPECT_EQ(collector.stored, "a\r\n");
}

TEST(DotStuffing, UnfinishedDataKeepsWaiting) {
    const PassRun run = run_data(reject_limits(), "a\r\nb\r\n.");
    EXPECT_FALSE(run.finished);
    EXPECT_EQ(run.consumed, 7u);
    EXPECT_EQ(run.stored, "a\r\nb\r\n");
}

// --- SMTP smuggling: only CRLF "." CRLF ends the data ----------------------------------------

struct Smuggling {
    const char* sequence;
    const char* normalized;  // what "a" + sequence + "X\r\n" is stored as in normalize mode
    int bare;                // bare line endings in it
};

const Smuggling kSmuggling[] = {
    {"\n.\n", "a\r\n.\r\nX\r\n", 2},
    {"\r.\r", "a\r\n.\r\nX\r\n", 2},
    {"\n.\r\n", "a\r\n.\r\nX\r\n", 1},
    {"\r.\r\n", "a\r\n.\r\nX\r\n", 1},
    {"\r\n.\n", "a\r\n\r\nX\r\n", 1},
    {"\r\n.\r", "a\r\n\r\nX\r\n", 1},
    {"\r\n.\r.\r\n", "a\r\n\r\n.\r\nX\r\n", 1},
    {"\r\n.\r\r\n", "a\r\n\r\n\r\nX\r\n", 1},
    {"\n\r\n.\n", "a\r\n\r\n\r\nX\r\n", 2},
    {"\r\n\n.\r\n", "a\r\n\r\n.\r\nX\r\n", 1},
};

TEST(Smuggling, NoSequenceEndsTheDataInEitherModeAtAnySplit) {
    const std::string smuggled = "MAIL FROM:<evil@example.com>\r\n";
    for (const Smuggling& item : kSmuggling) {
        const std::string input = std::string("a") + item.sequence + "X\r\n" + smuggled;
        const std::string full = input + ".\r\n";
        for (const PassLimits& limits : {reject_limits(), normalize_limits()}) {
            const PassRun whole = run_data(limits, full);
            SCOPED_TRACE(test_support::escaped(full));
            EXPECT_TRUE(whole.finished);
            EXPECT_EQ(whole.consumed, full.size()) << "ended early: smuggling possible";
            EXPECT_EQ(whole.outcome.bare_line_endings, static_cast<std::uint64_t>(item.bare));
            for (std::size_t cut = 0; cut <= full.size(); ++cut) {
                EXPECT_TRUE(same_result(run_data(limits, full, {cut}), whole)) << cut;
            }
            // Without the real terminator the data never ends, however it is split.
            for (std::size_t cut = 0; cut <= input.size(); ++cut) {
                EXPECT_FALSE(run_data(limits, input, {cut}).finished);
            }
        }
        const PassRun rejected = run_data(reject_limits(), full);
        EXPECT_EQ(rejected.outcome.verdict, Verdict::bare_line_ending);
        const PassRun normalized = run_data(normalize_limits(), full);
        EXPECT_EQ(normalized.outcome.verdict, Verdict::accepted);
        EXPECT_EQ(normalized.stored, item.normalized + smuggled);
    }
}

TEST(Smuggling, BareLineEndingsAreNeverLineStartsForUnstuffing) {
    // In normalize mode "\n..x" is stored with both dots: the LF did not start a line.
    const PassRun run = run_data(normalize_limits(), "a\n..x\r\n.\r\n");
    EXPECT_EQ(run.stored, "a\r\n..x\r\n");
    const PassRun cr = run_data(normalize_limits(), "a\r..x\r\n.\r\n");
    EXPECT_EQ(cr.stored, "a\r\n..x\r\n");
}

TEST(Smuggling, RealTerminatorAfterBareCrStillEnds) {
    // "a" CR, then CRLF "." CRLF: the CRLF before the dot is a real one.
    const PassRun run = run_data(normalize_limits(), "a\r\r\n.\r\nNEXT");
    EXPECT_TRUE(run.finished);
    EXPECT_EQ(run.consumed, 7u);
    EXPECT_EQ(run.stored, "a\r\n\r\n");
    EXPECT_EQ(run.outcome.bare_line_endings, 1u);
}

// --- Bare line endings -----------------------------------------------------------------------

TEST(BareLineEndings, RejectModeStopsTheSinkAtTheBareByteButFindsTheEnd) {
    const PassRun run = run_data(reject_limits(), "ok line\r\nbad\nline\r\nmore\r\n.\r\nNEXT");
    EXPECT_TRUE(run.finished);
    EXPECT_EQ(run.consumed, 28u);
    EXPECT_EQ(run.outcome.verdict, Verdict::bare_line_ending);
    EXPECT_EQ(run.stored, "ok line\r\nbad");
    EXPECT_EQ(run.outcome.stored_bytes, 12u);
    EXPECT_EQ(run.outcome.bare_line_endings, 1u);
}

TEST(BareLineEndings, NormalizeModeStoresEachAsCrLfAndCountsThem) {
    const PassRun run = run_data(normalize_limits(), "a\nb\rc\r\r\n\n\rd\r\n.\r\n");
    EXPECT_EQ(run.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(run.stored, "a\r\nb\r\nc\r\n\r\n\r\n\r\nd\r\n");
    EXPECT_EQ(run.outcome.bare_line_endings, 5u);
}

TEST(BareLineEndings, CrAtBufferEndIsDecidedByTheNextByte) {
    for (const PassLimits& limits : {reject_limits(), normalize_limits()}) {
        const PassRun crlf = run_data(limits, "a\r\nb\r\n.\r\n", {2});  // "a\r" | "\nb..."
        EXPECT_EQ(crlf.outcome.verdict, Verdict::accepted);
        EXPECT_EQ(crlf.stored, "a\r\nb\r\n");
        EXPECT_EQ(crlf.outcome.bare_line_endings, 0u);
    }
    const PassRun bare = run_data(reject_limits(), "a\rb\r\n.\r\n", {2});
    EXPECT_EQ(bare.outcome.verdict, Verdict::bare_line_ending);
    EXPECT_EQ(bare.stored, "a");
    const PassRun normalized = run_data(normalize_limits(), "a\rb\r\n.\r\n", {2});
    EXPECT_EQ(normalized.stored, "a\r\nb\r\n");
    // A held CR followed by a dot: the dot is not at a line start.
    EXPECT_EQ(run_data(normalize_limits(), "a\r.b\r\n.\r\n", {2}).stored, "a\r\n.b\r\n");
}

TEST(BareLineEndings, CrAtEndOfBdatLastIsBare) {
    const PassRun rejected = run_bdat(reject_limits(), "abc\r\ndef\r", {5});
    EXPECT_EQ(rejected.outcome.verdict, Verdict::bare_line_ending);
    EXPECT_EQ(rejected.stored, "abc\r\ndef");
    EXPECT_EQ(rejected.outcome.bare_line_endings, 1u);
    const PassRun normalized = run_bdat(normalize_limits(), "abc\r\ndef\r", {5});
    EXPECT_EQ(normalized.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(normalized.stored, "abc\r\ndef\r\n");
    // A CR ending a chunk, then an empty chunk, then LF: still CRLF.
    const PassRun crlf = run_bdat(reject_limits(), "abc\r\n", {4, 4});
    EXPECT_EQ(crlf.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(crlf.stored, "abc\r\n");
}

TEST(BareLineEndings, FirstVerdictWins) {
    PassLimits limits = reject_limits();
    limits.message_bytes_max = 4;
    const PassRun size_first = run_data(limits, "abcdef\nx\r\n.\r\n");
    EXPECT_EQ(size_first.outcome.verdict, Verdict::too_large);
    EXPECT_EQ(size_first.stored, "abcd");
    EXPECT_EQ(size_first.outcome.bare_line_endings, 1u);  // still counted
    const PassRun bare_first = run_data(limits, "ab\ncdef\r\n.\r\n");
    EXPECT_EQ(bare_first.outcome.verdict, Verdict::bare_line_ending);
    EXPECT_EQ(bare_first.stored, "ab");
}

// --- NUL octets ------------------------------------------------------------------------------

TEST(NulOctets, RefusedAtTheNulInBodyAndHeaderInEitherMode) {
    for (const PassLimits& limits : {reject_limits(), normalize_limits()}) {
        const PassRun body = run_data(limits, bytes("Subject: x\r\n\r\nab\0cd\r\n.\r\nNEXT"));
        EXPECT_TRUE(body.finished);
        EXPECT_EQ(body.consumed, 24u);  // the data is still read to its end
        EXPECT_EQ(body.outcome.verdict, Verdict::nul_octet);
        EXPECT_EQ(body.stored, "Subject: x\r\n\r\nab");
        EXPECT_EQ(body.body, "ab");
        const PassRun header = run_data(limits, bytes("Subject: a\0b\r\n\r\nbody\r\n.\r\n"));
        EXPECT_EQ(header.outcome.verdict, Verdict::nul_octet);
        EXPECT_EQ(header.stored, "Subject: a");
        EXPECT_EQ(run_data(limits, bytes("\0\r\n.\r\n")).stored, "");
    }
}

TEST(NulOctets, CrLfNulDotCrLfDoesNotEndTheDataAtAnySplit) {
    // A next hop that drops NULs would see CRLF "." CRLF here: the pass must not, and refuses.
    const std::string input =
        bytes("a\r\n\0.\r\nMAIL FROM:<ceo@example.com>\r\n.\0\r\n\0\r\n.\r\nNEXT");
    const std::size_t message_bytes = input.size() - 4;
    for (const PassLimits& limits : {reject_limits(), normalize_limits()}) {
        const PassRun whole = run_data(limits, input);
        EXPECT_TRUE(whole.finished);
        EXPECT_EQ(whole.consumed, message_bytes);
        EXPECT_EQ(whole.outcome.verdict, Verdict::nul_octet);
        EXPECT_EQ(whole.stored, "a\r\n");
        for (std::size_t cut = 0; cut <= input.size(); ++cut) {
            EXPECT_TRUE(same_result(run_data(limits, input, {cut}), whole)) << cut;
        }
    }
}

TEST(NulOctets, BdatChunksAndEveryPlaceInALongRun) {
    const PassRun chunks = run_bdat(reject_limits(), bytes("To: b\r\n\r\nx\0y\r\n"), {10, 11});
    EXPECT_EQ(chunks.outcome.verdict, Verdict::nul_octet);
    EXPECT_EQ(chunks.stored, "To: b\r\n\r\nx");
    // The 16-byte stride of the search, up to the NUL at each offset.
    for (std::size_t prefix = 0; prefix < 70; ++prefix) {
        const std::string body = std::string(prefix, 'a') + '\0' + std::string(40, 'b');
        const PassRun run = run_bdat(reject_limits(), body);
        EXPECT_EQ(run.outcome.verdict, Verdict::nul_octet);
        EXPECT_EQ(run.stored, std::string(prefix, 'a'));
    }
}

TEST(NulOctets, FoundAfterOtherControlsInTheSameBlock) {
    // HT, VT and FF pass the search's first filter with CR, LF and NUL; the exact compare that
    // follows must still find the framing octet behind them, wherever they are in a block.
    for (std::size_t control = 0; control < 20; ++control) {
        for (std::size_t nul = control + 1; nul < control + 20; ++nul) {
            std::string body(40, 'a');
            body[control] = "\t\v\f"[control % 3];
            body[control / 2] = '\t';
            body[nul] = '\0';
            const PassRun run = run_bdat(reject_limits(), body);
            EXPECT_EQ(run.outcome.verdict, Verdict::nul_octet) << control << " " << nul;
            EXPECT_EQ(run.stored, body.substr(0, nul));
            body[nul] = '\r';
            body.insert(nul + 1, "\n");
            const PassRun crlf = run_bdat(reject_limits(), body);
            EXPECT_EQ(crlf.outcome.verdict, Verdict::accepted) << control << " " << nul;
            EXPECT_EQ(crlf.stored, body);
        }
    }
}

TEST(NulOctets, FirstVerdictWinsAndEightBitIsStillNoted) {
    PassLimits limits = reject_limits();
    limits.message_bytes_max = 4;
    EXPECT_EQ(run_data(limits, bytes("abcdef\0\r\n.\r\n")).outcome.verdict, Verdict::too_large);
    // At the limit exactly: the NUL is the offending octet, not the first one over.
    EXPECT_EQ(run_data(limits, bytes("abcd\0\r\n.\r\n")).outcome.verdict, Verdict::nul_octet);
    EXPECT_EQ(run_data(reject_limits(), bytes("a\nb\0\r\n.\r\n")).outcome.verdict,
              Verdict::bare_line_ending);
    EXPECT_EQ(run_data(reject_limits(), bytes("\xC3\0\r\n.\r\n")).outcome.verdict,
              Verdict::nul_octet);
    const PassRun run = run_data(reject_limits(), bytes("a\0b\0\xC3\xA9\r\n.\r\n"));
    EXPECT_EQ(run.outcome.verdict, Verdict::nul_octet);
    EXPECT_EQ(run.stored, "a");
    EXPECT_TRUE(run.outcome.has_8bit);
}

// --- Line length -----------------------------------------------------------------------------

TEST(LineLength, The998thOctetIsAcceptedThe999thRefusedAtAnySplit) {
    const std::string head = "Subject: x\r\n\r\nfirst\r\n";
    const std::string at_limit = head + std::string(998, 'a') + "\r\nlast\r\n";
    const std::string over = head + std::string(999, 'a') + "\r\nlast\r\n";
    for (const PassLimits& limits : {reject_limits(), normalize_limits()}) {
        const PassRun fits = run_data(limits, at_limit + ".\r\n");
        EXPECT_EQ(fits.outcome.verdict, Verdict::accepted);
        EXPECT_EQ(fits.stored, at_limit);
        const PassRun whole = run_data(limits, over + ".\r\nNEXT");
        EXPECT_TRUE(whole.finished);
        EXPECT_EQ(whole.consumed, over.size() + 3);  // read to the end all the same
        EXPECT_EQ(whole.outcome.verdict, Verdict::line_too_long);
        EXPECT_EQ(whole.outcome.long_line_number, 4u);
        EXPECT_EQ(whole.stored, head + std::string(998, 'a'));  // up to the 999th octet
        EXPECT_EQ(whole.body, "first\r\n" + std::string(998, 'a'));
        const PassRun chunks = run_bdat(limits, over);
        EXPECT_EQ(chunks.outcome.verdict, Verdict::line_too_long);
        EXPECT_EQ(chunks.stored, whole.stored);
        for (std::size_t cut = 0; cut <= over.size(); cut += 1 + cut % 7) {
            const std::size_t second = std::min(over.size(), cut + cut / 2);
            EXPECT_TRUE(same_result(run_data(limits, over + ".\r\nNEXT", {cut}), whole)) << cut;
            EXPECT_TRUE(same_result(run_data(limits, at_limit + ".\r\n", {cut}), fits)) << cut;
            EXPECT_TRUE(same_result(run_bdat(limits, over, {cut, second}), chunks)) << cut;
        }
    }
}

TEST(LineLength, HeaderLinesAndALastLineWithoutCrLfCount) {
    const PassRun header =
        run_data(reject_limits(), "X: " + std::string(996, 'h') + "\r\n\r\n.\r\n");
    EXPECT_EQ(header.outcome.verdict, Verdict::line_too_long);
    EXPECT_EQ(header.outcome.long_line_number, 1u);
    EXPECT_EQ(header.stored.size(), 998u);
    const PassRun last = run_bdat(reject_limits(), "a\r\n" + std::string(999, 'z'), {500});
    EXPECT_EQ(last.outcome.verdict, Verdict::line_too_long);
    EXPECT_EQ(last.outcome.long_line_number, 2u);
    EXPECT_EQ(run_bdat(reject_limits(), "a\r\n" + std::string(998, 'z')).outcome.verdict,
              Verdict::accepted);
}

TEST(LineLength, CountsStoredOctetsAfterUnstuffing) {
    // On the wire these lines are one octet longer than stored.
    const std::string stuffed = "." + std::string(998, '.') + "\r\n";
    const PassRun run = run_data(reject_limits(), "a\r\n" + stuffed + ".\r\n");
    EXPECT_EQ(run.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(run.stored, "a\r\n" + std::string(998, '.') + "\r\n");
    const PassRun over = run_data(reject_limits(), ".." + std::string(998, 'x') + "\r\n.\r\n");
    EXPECT_EQ(over.outcome.verdict, Verdict::line_too_long);
    EXPECT_EQ(over.stored, "." + std::string(997, 'x'));
    // A stuffed dot at a buffer end, then the rest of the line in the next buffer.
    for (const std::size_t cut : {3u, 4u, 5u, 600u}) {
        EXPECT_TRUE(
            same_result(run_data(reject_limits(), "a\r\n" + stuffed + ".\r\n", {cut}), run));
    }
}

TEST(LineLength, NormalizedLineEndingsEndLines) {
    const std::string halves = std::string(600, 'a') + "\n" + std::string(600, 'b') + "\r" +
                               std::string(600, 'c') + "\r\n";
    const PassRun normalized = run_bdat(normalize_limits(), halves, {600, 601, 1201});
    EXPECT_EQ(normalized.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(normalized.outcome.bare_line_endings, 2u);
    const PassRun rejected = run_bdat(reject_limits(), halves);
    EXPECT_EQ(rejected.outcome.verdict, Verdict::bare_line_ending);
    // A CR held at a chunk end stops the line, whatever it turns out to be.
    const std::string ends_at_limit = std::string(998, 'd') + "\r";
    for (const PassLimits& limits : {reject_limits(), normalize_limits()}) {
        const PassRun crlf = run_bdat(limits, ends_at_limit + "\nnext\r\n", {999});
        EXPECT_EQ(crlf.outcome.verdict, Verdict::accepted);
        EXPECT_EQ(crlf.outcome.bare_line_endings, 0u);
    }
    EXPECT_EQ(run_bdat(normalize_limits(), ends_at_limit + "x", {999}).outcome.verdict,
              Verdict::accepted);
    const PassRun long_then_cr = run_bdat(normalize_limits(), "d" + ends_at_limit + "\n", {1000});
    EXPECT_EQ(long_then_cr.outcome.verdict, Verdict::line_too_long);
    EXPECT_EQ(long_then_cr.stored, std::string(998, 'd'));
}

TEST(LineLength, ZeroTurnsTheCheckOffAndOtherLimitsApply) {
    PassLimits off = reject_limits();
    off.line_bytes_max = 0;
    EXPECT_EQ(run_data(off, std::string(100000, 'o') + "\r\n.\r\n").outcome.verdict,
              Verdict::accepted);
    PassLimits small = reject_limits();
    small.line_bytes_max = 5;
    EXPECT_EQ(run_data(small, "12345\r\n12345\r\n.\r\n").outcome.verdict, Verdict::accepted);
    const PassRun third = run_data(small, "12345\r\n12\r\n123456\r\n.\r\n", {9, 10, 16});
    EXPECT_EQ(third.outcome.verdict, Verdict::line_too_long);
    EXPECT_EQ(third.outcome.long_line_number, 3u);
    EXPECT_EQ(third.stored, "12345\r\n12\r\n12345");
}

TEST(LineLength, TheEarliestRefusalWins) {
    PassLimits limits = reject_limits();
    limits.line_bytes_max = 4;
    // At the same octet: a NUL is refused as a NUL; the line wins over size, UTF-8, header.
    EXPECT_EQ(run_data(limits, bytes("abcd\0\r\n.\r\n")).outcome.verdict, Verdict::nul_octet);
    EXPECT_EQ(run_data(limits, "abcd\xFF\r\n.\r\n").outcome.verdict, Verdict::line_too_long);
    PassLimits sized = limits;
    sized.message_bytes_max = 4;
    EXPECT_EQ(run_data(sized, "abcde\r\n.\r\n").outcome.verdict, Verdict::line_too_long);
    sized.message_bytes_max = 3;
    EXPECT_EQ(run_data(sized, "abcde\r\n.\r\n").outcome.verdict, Verdict::too_large);
    // Before the line's end: later problems in the same line come after it.
    const PassRun later = run_data(limits, bytes("abcdef\xFF\0\r\n.\r\n"), {5});
    EXPECT_EQ(later.outcome.verdict, Verdict::line_too_long);
    EXPECT_EQ(later.stored, "abcd");
    EXPECT_EQ(run_data(limits,
                       "ab\xFF"
                       "cdef\r\n.\r\n")
                  .outcome.verdict,
              Verdict::invalid_utf8);
    EXPECT_EQ(run_data(limits, "ab\ncdef\r\n.\r\n").outcome.verdict, Verdict::bare_line_ending);
    EXPECT_EQ(run_data(limits, "abcd\ne\r\n.\r\n").outcome.verdict, Verdict::bare_line_ending);
    const PassRun after = run_data(limits, "ab\r\nabcdef\r\n.\r\n");
    EXPECT_EQ(after.outcome.long_line_number, 2u);
    EXPECT_EQ(run_data(limits, "abcdef\r\n\xFF\r\n.\r\n").outcome.long_line_number, 1u);
}

// --- Splits: every split gives what one buffer gives -----------------------------------------

const char kRichMessage[] =
    "From: Alice <alice@example.com>\r\n"
    "Subject: caf\xC3\xA9 \xF0\x9F\x98\x80 folded\r\n"
    "\tcontinued\r\n"
    "\r\n"
    ".leading dot\r\n"
    "..\r\n"
    "\xE2\x82\xAC line with euro\r\n"
    "\r\n"
    "last line\r\n";

std::string rich_data() {
    std::string input = kRichMessage;
    std::string stuffed;
    for (std::size_t at = 0; at < input.size(); ++at) {
        if (input[at] == '.' && (at == 0 || input[at - 1] == '\n')) {
            stuffed += '.';
        }
        stuffed += input[at];
    }
    return stuffed + ".\r\nQUIT\r\n";
}

std::vector<std::size_t> every_offset(std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t cut = 1; cut < size; ++cut) {
        cuts.push_back(cut);
    }
    return cuts;
}

TEST(Splits, ByteByByteEqualsOneShot) {
    const std::string input = rich_data();
    for (const PassLimits& limits : {reject_limits(), normalize_limits()}) {
        const PassRun whole = run_data(limits, input);
        EXPECT_EQ(whole.stored, kRichMessage);
        const PassRun bytes = run_data(limits, input, every_offset(input.size()));
        EXPECT_TRUE(same_result(bytes, whole)) << bytes << "\n" << whole;
        const PassRun chunks =
            run_bdat(limits, kRichMessage, every_offset(sizeof kRichMessage - 1));
        EXPECT_TRUE(same_result(chunks, run_bdat(limits, kRichMessage)));
    }
}

TEST(Splits, EveryTwoWaySplitEqualsOneShot) {
    const std::string input = rich_data();
    const PassRun whole = run_data(reject_limits(), input);
    const PassRun whole_bdat = run_bdat(reject_limits(), kRichMessage);
    EXPECT_EQ(whole_bdat.stored, kRichMessage);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        EXPECT_TRUE(same_result(run_data(reject_limits(), input, {cut}), whole)) << cut;
    }
    for (std::size_t cut = 0; cut <= sizeof kRichMessage - 1; ++cut) {
        EXPECT_TRUE(same_result(run_bdat(reject_limits(), kRichMessage, {cut}), whole_bdat));
    }
}

TEST(Splits, RandomSplitsEqualOneShotForMessagesWithProblems) {
    const std::string inputs[] = {
        rich_data(),
        "a\nb\r\n..c\r\r\n.\r\n",
        "H: \xC3\r\n\r\n.\r\n",
        "H: x\r\n\r\n\xED\xA0\x80\r\n.\r\n",
        std::string(300, 'h') + "\r\n\r\nbody\r\n.\r\n",
        bytes("H: x\r\n\r\nbo\0dy\r\n\0.\r\n.\r\n"),
    };
    std::mt19937 random(7);
    for (const std::string& input : inputs) {
        for (const bool normalize : {false, true}) {
            PassLimits limits = normalize ? normalize_limits() : reject_limits();
            limits.header_bytes_max = 200;
            limits.message_bytes_max = 250;
            const PassRun whole = run_data(limits, input);
            for (int round = 0; round < 200; ++round) {
                std::vector<std::size_t> cuts;
                const std::size_t count = random() % 8;
                for (std::size_t index = 0; index < count; ++index) {
                    cuts.push_back(random() % (input.size() + 1));
                }
                std::sort(cuts.begin(), cuts.end());
                const PassRun split = run_data(limits, input, cuts);
                ASSERT_TRUE(same_result(split, whole)) << split << "\n" << whole;
                ASSERT_TRUE(same_result(run_bdat(limits, input, cuts), run_bdat(limits, input)));
            }
        }
    }
}

// --- UTF-8 -----------------------------------------------------------------------------------

TEST(Utf8, ValidSequencesAtTheEdgesOfEachRangeAreAccepted) {
    const char* const valid[] = {
        "\xC2\x80",          // U+0080
        "\xDF\xBF",          // U+07FF
        "\xE0\xA0\x80",      // U+0800
        "\xED\x9F\xBF",      // U+D7FF
        "\xEE\x80\x80",      // U+E000
        "\xEF\xBF\xBF",      // U+FFFF
        "\xF0\x90\x80\x80",  // U+10000
        "\xF4\x8F\xBF\xBF",  // U+10FFFF
    };
    for (const char* sequence : valid) {
        const std::string body = std::string("x") + sequence + "y\r\n";
        for (std::size_t cut = 0; cut <= body.size(); ++cut) {
            const PassRun run = run_bdat(reject_limits(), body, {cut});
            EXPECT_EQ(run.outcome.verdict, Verdict::accepted) << test_support::escaped(body);
            EXPECT_TRUE(run.outcome.has_8bit);
            EXPECT_EQ(run.stored, body);
        }
    }
}

TEST(Utf8, IllFormedKindsAreRefusedAtTheOffendingOctet) {
    struct Case {
        const char* bytes;
        std::size_t stored;  // of "x" + bytes + "y\r\n": what the sink got
    };
    const Case cases[] = {
        {"\xC0\x80", 1},          // overlong, C0 never valid
        {"\xC1\xBF", 1},          // overlong
        {"\xE0\x80\x80", 2},      // overlong 3-byte
        {"\xE0\x9F\xBF", 2},      // overlong 3-byte (U+07FF)
        {"\xF0\x8F\xBF\xBF", 2},  // overlong 4-byte
        {"\xED\xA0\x80", 2},      // surrogate U+D800
        {"\xED\xBF\xBF", 2},      // surrogate U+DFFF
        {"\xF4\x90\x80\x80", 2},  // U+110000
        {"\xF5\x80\x80\x80", 1},  // lead byte beyond U+10FFFF
        {"\xFF", 1},              // never valid
        {"\x80", 1},              // continuation without a lead
        {"\xC3", 2},              // truncated by "y"
        {"\xE2\x82", 3},          // truncated 3-byte
        {"\xF0\x9F\x98", 4},      // truncated 4-byte
        {"\xC3\xA9\xA9", 3},      // one continuation too many
    };
    for (const Case& item : cases) {
        const std::string body = std::string("x") + item.bytes + "y\r\n";
        for (std::size_t cut = 0; cut <= body.size(); ++cut) {
            const PassRun run = run_bdat(reject_limits(), body, {cut});
            EXPECT_EQ(run.outcome.verdict, Verdict::invalid_utf8) << test_support::escaped(body);
            EXPECT_EQ(run.stored, body.substr(0, item.stored)) << test_support::escaped(body);
            EXPECT_TRUE(run.outcome.has_8bit);
        }
    }
}

TEST(Utf8, TruncatedAtTheEndOfTheMessageIsRefused) {
    const PassRun chunks = run_bdat(reject_limits(), "abc\xE2\x82", {4});
    EXPECT_EQ(chunks.outcome.verdict, Verdict::invalid_utf8);
    EXPECT_EQ(chunks.stored, "abc\xE2\x82");
    const PassRun data = run_data(reject_limits(), "abc\xC3\r\n.\r\n");
    EXPECT_TRUE(data.finished);
    EXPECT_EQ(data.outcome.verdict, Verdict::invalid_utf8);
}

TEST(Utf8, SequenceSplitAcrossDataBuffersAtEachOctet) {
    const std::string input = "\xF0\x9F\x98\x80\xE2\x82\xAC\xC3\xA9\r\n.\r\n";
    for (std::size_t first = 0; first <= input.size(); ++first) {
        for (std::size_t second = first; second <= input.size(); ++second) {
            const PassRun run = run_data(reject_limits(), input, {first, second});
            EXPECT_EQ(run.outcome.verdict, Verdict::accepted);
            EXPECT_EQ(run.stored, input.substr(0, input.size() - 3));
        }
    }
}

TEST(Utf8, NotRequiredMeansOnlyNoted) {
    PassLimits limits = reject_limits();
    limits.require_valid_utf8 = false;
    const PassRun run = run_data(limits, "\xFF\xC0\r\n.\r\n");
    EXPECT_EQ(run.outcome.verdict, Verdict::accepted);
    EXPECT_TRUE(run.outcome.has_8bit);
    EXPECT_EQ(run.stored, "\xFF\xC0\r\n");
    EXPECT_FALSE(run_data(limits, "plain\r\n.\r\n").outcome.has_8bit);
}

TEST(Utf8, EightBitAfterARefusalIsStillNoted) {
    PassLimits limits = reject_limits();
    limits.message_bytes_max = 3;
    const PassRun run = run_data(limits, "abcdef\r\n\xC3\xA9\r\n.\r\n");
    EXPECT_EQ(run.outcome.verdict, Verdict::too_large);
    EXPECT_TRUE(run.outcome.has_8bit);
}

TEST(Utf8, LongAsciiThenInvalidOctetDeepInsideABuffer) {
    // Exercises the 16-byte ASCII stride up to the octet that fails.
    for (std::size_t prefix = 0; prefix < 70; ++prefix) {
        const std::string body = std::string(prefix, 'a') + "\xC3\x28" + std::string(40, 'b');
        const PassRun run = run_bdat(reject_limits(), body);
        EXPECT_EQ(run.outcome.verdict, Verdict::invalid_utf8);
        EXPECT_EQ(run.stored.size(), prefix + 1);
    }
}

// --- Size limit ------------------------------------------------------------------------------

TEST(SizeLimit, ExactlyAtTheLimitIsAcceptedOneOverIsNot) {
    const std::string message = "Subject: x\r\n\r\n0123456789\r\n";  // 26 stored bytes
    PassLimits limits = reject_limits();
    limits.message_bytes_max = message.size();
    const PassRun at = run_data(limits, message + ".\r\n");
    EXPECT_EQ(at.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(at.outcome.stored_bytes, message.size());
    limits.message_bytes_max = message.size() - 1;
    const PassRun over = run_data(limits, message + ".\r\nNEXT");
    EXPECT_EQ(over.outcome.verdict, Verdict::too_large);
    EXPECT_TRUE(over.finished);
    EXPECT_EQ(over.consumed, message.size() + 3);  // consumed to the end all the same
    EXPECT_EQ(over.stored, message.substr(0, message.size() - 1));
    EXPECT_EQ(over.outcome.stored_bytes, message.size() - 1);
}

TEST(SizeLimit, CountsStoredBytesNotReceivedOnes) {
    PassLimits limits = reject_limits();
    limits.message_bytes_max = 3;
    EXPECT_EQ(run_data(limits, "..\r\n.\r\n").outcome.verdict, Verdict::accepted);  // ".\r\n"
    limits.bare_line_endings = BareLineEndings::normalize;
    EXPECT_EQ(run_data(limits, "ab\nc\r\n.\r\n").outcome.verdict, Verdict::too_large);
    EXPECT_EQ(run_bdat(limits, "a\n").outcome.verdict, Verdict::accepted);  // "a\r\n"
}

TEST(SizeLimit, BdatAcrossChunks) {
    PassLimits limits = reject_limits();
    limits.message_bytes_max = 10;
    const PassRun run = run_bdat(limits, "0123456789A", {4, 8});
    EXPECT_EQ(run.outcome.verdict, Verdict::too_large);
    EXPECT_EQ(run.stored, "0123456789");
}

// --- Header block ----------------------------------------------------------------------------

TEST(HeaderBlock, FieldsAreIndexedWithFoldedLines) {
    const std::string header =
        "From: Alice <alice@example.com>\r\n"
        "Subject: one\r\n"
        " two\r\n"
        "\tthree\r\n"
        "X-Old  : spaced\r\n"
        "To:bob@example.com\r\n"
        "\r\n";
    const PassRun run = run_data(reject_limits(), header + "body\r\n.\r\n");
    const HeaderBlock& block = run.headers;
    EXPECT_TRUE(block.complete);
    EXPECT_EQ(block.bytes, header);
    ASSERT_EQ(block.fields.size(), 4u);
    const std::string subject = "Subject: one\r\n two\r\n\tthree\r\n";
    EXPECT_EQ(block.fields[1].offset, header.find(subject));
    EXPECT_EQ(block.fields[1].name_bytes, 7u);
    EXPECT_EQ(block.fields[1].field_bytes, subject.size());
    EXPECT_EQ(block.raw_field(1), "one\r\n two\r\n\tthree");
    EXPECT_EQ(block.unfolded_field(1), "one two\tthree");
    EXPECT_EQ(block.fields[2].name_bytes, 5u);  // "X-Old", whitespace before the colon dropped
    EXPECT_EQ(block.raw_field(2), "spaced");
    EXPECT_EQ(block.raw_field(3), "bob@example.com");
    EXPECT_EQ(block.find("subject"), &block.fields[1]);
    EXPECT_EQ(block.find("FROM"), &block.fields[0]);
    EXPECT_EQ(block.find("x-old"), &block.fields[2]);
    EXPECT_EQ(block.find("Cc"), nullptr);
    EXPECT_EQ(block.find("Subjec"), nullptr);
    EXPECT_EQ(block.raw_field(4), "");
    EXPECT_EQ(run.body, "body\r\n");
}

TEST(HeaderBlock, ValueStartingOnAFoldedLine) {
    const PassRun run = run_bdat(reject_limits(), "Subject:\r\n  folded start\r\n\r\n");
    EXPECT_EQ(run.headers.raw_field(0), "folded start");
}

TEST(HeaderBlock, MalformedLinesAreIndexedWithoutAName) {
    const PassRun run = run_bdat(
        reject_limits(), " leading space\r\nno colon here\r\nBad Name: x\r\nGood: y\r\n\r\n");
    ASSERT_EQ(run.headers.fields.size(), 4u);
    EXPECT_EQ(run.headers.fields[0].name_bytes, 0u);
    EXPECT_EQ(run.headers.fields[1].name_bytes, 0u);
    EXPECT_EQ(run.headers.fields[2].name_bytes, 0u);  // a space inside the name
    EXPECT_EQ(run.headers.fields[3].name_bytes, 4u);
    EXPECT_EQ(run.headers.raw_field(0), "");
    EXPECT_EQ(run.headers.find("Bad Name"), nullptr);
}

TEST(HeaderBlock, HeaderOnlyMessageIsAllHeader) {
    const PassRun run = run_data(reject_limits(), "Subject: a\r\nTo: b\r\n .c\r\n.\r\n");
    EXPECT_FALSE(run.headers.complete);
    EXPECT_EQ(run.headers.bytes, "Subject: a\r\nTo: b\r\n .c\r\n");
    ASSERT_EQ(run.headers.fields.size(), 2u);
    EXPECT_EQ(run.headers.raw_field(1), "b\r\n .c");
    EXPECT_EQ(run.body, "");
    // BDAT without a final CRLF: the last line still counts as a field.
    const PassRun chunks = run_bdat(reject_limits(), "Subject: a\r\nTo: b", {14});
    ASSERT_EQ(chunks.headers.fields.size(), 2u);
    EXPECT_EQ(chunks.headers.raw_field(1), "b");
}

TEST(HeaderBlock, EmptyHeaderBlock) {
    const PassRun run = run_data(reject_limits(), "\r\nbody only\r\n.\r\n");
    EXPECT_TRUE(run.headers.complete);
    EXPECT_EQ(run.headers.bytes, "\r\n");
    EXPECT_TRUE(run.headers.fields.empty());
    EXPECT_EQ(run.body, "body only\r\n");
}

TEST(HeaderBlock, BodyObserverGetsExactlyTheBodyAtAnySplit) {
    const std::string input = rich_data();
    const std::string stored = kRichMessage;
    const std::size_t header_end = stored.find("\r\n\r\n") + 4;
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        const PassRun run = run_data(reject_limits(), input, {cut});
        EXPECT_EQ(run.body, stored.substr(header_end));
        EXPECT_EQ(run.headers.bytes, stored.substr(0, header_end));
    }
}

TEST(HeaderBlock, TooLargeExactlyAtAndOneOver) {
    const std::string header = "Subject: 0123456789\r\n\r\n";  // 23 bytes with the empty line
    PassLimits limits = reject_limits();
    limits.header_bytes_max = header.size();
    const PassRun at = run_data(limits, header + "body\r\n.\r\n");
    EXPECT_EQ(at.outcome.verdict, Verdict::accepted);
    EXPECT_TRUE(at.headers.complete);
    limits.header_bytes_max = header.size() - 1;
    const PassRun over = run_data(limits, header + "body\r\n.\r\n");
    EXPECT_EQ(over.outcome.verdict, Verdict::header_too_large);
    EXPECT_TRUE(over.finished);
    EXPECT_FALSE(over.headers.complete);
    EXPECT_EQ(over.stored, header.substr(0, header.size() - 1));
    EXPECT_EQ(over.headers.bytes.size(), header.size() - 1);
    EXPECT_EQ(over.body, "");
    // A long body after a small header block is fine.
    limits.header_bytes_max = 64;
    std::string body;
    for (int line = 0; line < 20; ++line) {
        body += std::string(98, 'b') + "\r\n";
    }
    const PassRun long_body = run_data(limits, header + body + ".\r\n");
    EXPECT_EQ(long_body.outcome.verdict, Verdict::accepted);
    // Without an empty line, everything is header.
    const PassRun no_body = run_data(limits, std::string(100, 'h') + "\r\n.\r\n");
    EXPECT_EQ(no_body.outcome.verdict, Verdict::header_too_large);
}

// --- BDAT ------------------------------------------------------------------------------------

TEST(Bdat, RawBytesNoUnstuffingNoTerminator) {
    const std::string content = "a\r\n..b\r\n.\r\nc\r\n";
    const PassRun run = run_bdat(reject_limits(), content, {3, 4, 9});
    EXPECT_EQ(run.outcome.verdict, Verdict::accepted);
    EXPECT_EQ(run.stored, content);
}

TEST(Bdat, CrLfAcrossChunksAndBareEndingsInChunks) {
    EXPECT_EQ(run_bdat(reject_limits(), "a\r\nb", {2}).stored, "a\r\nb");
    EXPECT_EQ(run_bdat(reject_limits(), "a\nb", {2}).outcome.verdict, Verdict::bare_line_ending);
    EXPECT_EQ(run_bdat(normalize_limits(), "a\r", {2}).stored, "a\r\n");
    EXPECT_EQ(run_bdat(normalize_limits(), "a\rb\n", {2}).stored, "a\r\nb\r\n");
}

// --- Reuse -----------------------------------------------------------------------------------

TEST(Reuse, StartResetsEverything) {
    PassLimits limits = reject_limits();
    limits.message_bytes_max = 20;
    MessagePass pass(limits);
    const PassRun first =
        run_data(pass, "Subject: a\r\n\r\n\xC3\n" + std::string(30, 'x') + "\r\n.\r\n");
    EXPECT_EQ(first.outcome.verdict, Verdict::bare_line_ending);
    const PassRun second = run_bdat(pass, "To: b\r\n\r\nok\r\n");
    EXPECT_EQ(second.outcome.verdict, Verdict::accepted);
    EXPECT_FALSE(second.outcome.has_8bit);
    EXPECT_EQ(second.outcome.bare_line_endings, 0u);
    EXPECT_EQ(second.headers.bytes, "To: b\r\n\r\n");
    ASSERT_EQ(second.headers.fields.size(), 1u);
    EXPECT_EQ(second.stored, "To: b\r\n\r\nok\r\n");
}

}  // namespace
}  // namespace relay::message
