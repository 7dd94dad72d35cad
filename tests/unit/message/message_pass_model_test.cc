// message_pass_model_test.cc -- the message pass against a slow reference model written to be
// obviously right, on many random inputs built from the bytes that matter (CR, LF, ".", NUL, 8-bit
// octets, header syntax, lines around the length limit), with random buffer splits, both framings
// and both bare-line modes.
//
// The model works on the whole input at once, byte by byte, with no state carried between
// buffers. It first computes the stored stream as if nothing were refused, then the position of
// each problem in that stream; the earliest one is where the sink stops.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "pass_driver.h"
#include "relay/message/message_pass.h"

namespace relay::message {
namespace {

using test_support::PassRun;

// --- UTF-8: every well-formed encoding, from the RFC 3629 §3 encoding rule ------------------

std::string encode(std::uint32_t code_point) {
    std::string out;
    if (code_point < 0x80) {
        out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
        out += static_cast<char>(0xC0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        out += static_cast<char>(0xE0 | (code_point >> 12));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (code_point >> 18));
        out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
    return out;
}

// A byte string of at most 4 octets as a number, its length in the top bits.
std::uint64_t key_of(std::string_view bytes) {
    std::uint64_t key = static_cast<std::uint64_t>(bytes.size()) << 32;
    for (std::size_t index = 0; index < bytes.size(); ++index) {
        key |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[index])) << (8 * index);
    }
    return key;
}

// The encodings of all scalar values (no surrogates, nothing above U+10FFFF), and every proper
// prefix of them. A byte string is well-formed iff it splits into complete encodings.
struct Utf8Sets {
    std::unordered_set<std::uint64_t> complete;
    std::unordered_set<std::uint64_t> prefixes;
    Utf8Sets() {
        complete.reserve(0x110000);
        for (std::uint32_t code_point = 0x80; code_point <= 0x10FFFF; ++code_point) {
            if (code_point >= 0xD800 && code_point <= 0xDFFF) {
                continue;
            }
            const std::string bytes = encode(code_point);
            for (std::size_t length = 1; length < bytes.size(); ++length) {
                prefixes.insert(key_of(std::string_view(bytes).substr(0, length)));
            }
            complete.insert(key_of(bytes));
        }
    }
};

const Utf8Sets& utf8_sets() {
    static const Utf8Sets sets;
    return sets;
}

// Index of the first octet at which `stream` stops being a prefix of any well-formed UTF-8
// string, or nullopt. `truncated` tells whether it ends inside a character.
std::optional<std::size_t> first_ill_formed(const std::string& stream, bool& truncated) {
    const Utf8Sets& sets = utf8_sets();
    std::string pending;
    for (std::size_t index = 0; index < stream.size(); ++index) {
        const auto octet = static_cast<unsigned char>(stream[index]);
        if (pending.empty() && octet < 0x80) {
            continue;
        }
        pending += stream[index];
        if (sets.complete.count(key_of(pending)) != 0) {
            pending.clear();
        } else if (sets.prefixes.count(key_of(pending)) == 0) {
            truncated = false;
            return index;
        }
    }
    truncated = !pending.empty();
    return std::nullopt;
}

// --- Framing ---------------------------------------------------------------------------------

struct Framed {
    std::string stream;                     // stored bytes as if nothing were refused
    std::optional<std::size_t> first_bare;  // reject mode: stream position of the first bare one
    std::optional<std::size_t> first_nul;   // stream position of the first NUL
    std::uint64_t bare = 0;
    std::size_t consumed = 0;
    bool finished = false;
};

Framed frame(const std::string& input, bool dot_stuffed, bool normalize) {
    Framed framed;
    const std::size_t size = input.size();
    bool line_start = dot_stuffed;
    std::size_t index = 0;
    auto bare = [&](const char* replacement) {
        ++framed.bare;
        if (normalize) {
            framed.stream += replacement;
        } else if (!framed.first_bare) {
            framed.first_bare = framed.stream.size();
        }
    };
    while (index < size) {
        if (dot_stuffed && line_start && input[index] == '.') {
            if (index + 2 < size && input[index + 1] == '\r' && input[index + 2] == '\n') {
                framed.finished = true;
                framed.consumed = index + 3;
                return framed;
            }
            ++index;  // the stuffed dot is dropped
            line_start = false;
            continue;
        }
        line_start = false;
        const char octet = input[index];
        if (octet == '\r') {
            if (index + 1 < size && input[index + 1] == '\n') {
                framed.stream += "\r\n";
                index += 2;
                line_start = true;
                continue;
            }
            if (index + 1 == size) {
                if (!dot_stuffed) {
                    bare("\r\n");  // BDAT LAST ends on it
                }
                break;  // DATA: still undecided, nothing stored for it yet
            }
            bare("\r\n");
        } else if (octet == '\n') {
            bare("\r\n");
        } else {
            if (octet == '\0' && !framed.first_nul) {
                framed.first_nul = framed.stream.size();
            }
            framed.stream += octet;
        }
        ++index;
    }
    framed.consumed = size;
    framed.finished = !dot_stuffed;
    return framed;
}

// --- Header block ----------------------------------------------------------------------------

std::uint32_t model_name_bytes(const std::string& line) {
    const std::size_t colon = line.find(':');
    if (line.empty() || line[0] == ' ' || line[0] == '\t' || colon == std::string::npos) {
        return 0;
    }
    std::size_t end = colon;
    while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) {
        --end;
    }
    for (std::size_t index = 0; index < end; ++index) {
        const auto octet = static_cast<unsigned char>(line[index]);
        if (octet < 33 || octet > 126) {
            return 0;
        }
    }
    return static_cast<std::uint32_t>(end);
}

// A last line without LF is indexed only once the message is complete: until then it may go on.
std::vector<HeaderField> model_fields(const std::string& header, bool finished) {
    std::vector<HeaderField> fields;
    std::size_t start = 0;
    while (start < header.size()) {
        const std::size_t lf = header.find('\n', start);
        if (lf == std::string::npos && !finished) {
            break;
        }
        const std::size_t end = lf == std::string::npos ? header.size() : lf + 1;
        const std::string line = header.substr(start, end - start);
        if (line == "\r\n") {
            break;
        }
        if ((line[0] == ' ' || line[0] == '\t') && !fields.empty()) {
            fields.back().field_bytes = static_cast<std::uint32_t>(end - fields.back().offset);
        } else {
            fields.push_back(HeaderField{static_cast<std::uint32_t>(start), model_name_bytes(line),
                                         static_cast<std::uint32_t>(end - start)});
        }
        start = end;
    }
    return fields;
}

// --- Line length -----------------------------------------------------------------------------

struct LongLine {
    std::size_t position = 0;  // in the stream: the first octet past the limit
    std::uint64_t number = 0;  // the line, from 1
};

// Lines of the stream end in CRLF (the stream holds no other CR or LF); the last one may not.
std::optional<LongLine> first_long_line(const std::string& stream, std::uint32_t line_bytes_max) {
    if (line_bytes_max == 0) {
        return std::nullopt;
    }
    std::size_t start = 0;
    for (std::uint64_t number = 1;; ++number) {
        const std::size_t crlf = stream.find("\r\n", start);
        const std::size_t stop = crlf == std::string::npos ? stream.size() : crlf;
        if (stop - start > line_bytes_max) {
            return LongLine{start + line_bytes_max, number};
        }
        if (crlf == std::string::npos) {
            return std::nullopt;
        }
        start = crlf + 2;
    }
}

// --- The whole model -------------------------------------------------------------------------

PassRun model(const std::string& input, bool dot_stuffed, const PassLimits& limits) {
    const bool normalize = limits.bare_line_endings == BareLineEndings::normalize;
    const Framed framed = frame(input, dot_stuffed, normalize);
    const std::string& stream = framed.stream;
    // Header block: up to and including the first empty line, else everything.
    std::size_t header_end = stream.size();
    bool complete = false;
    if (stream.compare(0, 2, "\r\n") == 0) {
        header_end = 2;
        complete = true;
    } else if (const std::size_t found = stream.find("\r\n\r\n"); found != std::string::npos) {
        header_end = found + 4;
        complete = true;
    }
    const std::optional<LongLine> long_line = first_long_line(stream, limits.line_bytes_max);
    bool truncated = false;
    const std::optional<std::size_t> ill_formed =
        limits.require_valid_utf8 ? first_ill_formed(stream, truncated) : std::nullopt;
    // Candidates in order of precedence when two fall on the same byte.
    std::size_t cut = stream.size();
    Verdict verdict = Verdict::accepted;
    auto consider = [&](bool applies, std::size_t position, Verdict why) {
        if (applies && position < cut) {
            cut = position;
            verdict = why;
        }
    };
    auto consider_at_end = [&](bool applies, std::size_t position, Verdict why) {
        if (applies && position <= cut && verdict == Verdict::accepted) {
            cut = position;
            verdict = why;
        }
    };
    consider_at_end(framed.first_bare.has_value(), framed.first_bare.value_or(0),
                    Verdict::bare_line_ending);
    consider(framed.first_nul.has_value(), framed.first_nul.value_or(0), Verdict::nul_octet);
    consider(long_line.has_value(), long_line.value_or(LongLine{}).position,
             Verdict::line_too_long);
    consider(limits.message_bytes_max != 0 && stream.size() > limits.message_bytes_max,
             limits.message_bytes_max, Verdict::too_large);
    consider(ill_formed.has_value(), ill_formed.value_or(0), Verdict::invalid_utf8);
    consider(header_end > limits.header_bytes_max, limits.header_bytes_max,
             Verdict::header_too_large);
    if (verdict == Verdict::accepted && truncated && framed.finished) {
        verdict = Verdict::invalid_utf8;
    }
    PassRun run;
    run.stored = stream.substr(0, cut);
    run.outcome.verdict = verdict;
    run.outcome.stored_bytes = cut;
    run.outcome.bare_line_endings = framed.bare;
    run.outcome.long_line_number = verdict == Verdict::line_too_long ? long_line->number : 0;
    run.consumed = framed.consumed;
    run.finished = framed.finished;
    run.outcome.has_8bit = std::any_of(input.begin(), input.begin() + framed.consumed, [](char c) {
        return static_cast<unsigned char>(c) >= 0x80;
    });
    run.headers.bytes = stream.substr(0, std::min(header_end, cut));
    run.headers.complete = complete && header_end <= cut;
    run.headers.fields = model_fields(run.headers.bytes, framed.finished);
    run.body = run.headers.complete ? stream.substr(header_end, cut - header_end) : "";
    return run;
}

// --- Random inputs ---------------------------------------------------------------------------

const char* const kTokens[] = {
    "\r",
    "\n",
    ".",
    "a",
    "b",
    " ",
    "\t",
    ":",
    "X: ",
    "\r\n",
    "\r\n",
    "\r\n.",
    "\r\n.\r\n",
    "..",
    "\r\n\r\n",
    "\xC3",
    "\xA9",
    "\xFF",
    "\xE0",
    "\xED",
    "\xF0",
    "\xF4",
    "\x80",
    "\x90",
    "\xBF",
    "\xC3\xA9",
    "\xE2\x82\xAC",
    "\xF0\x9F\x98\x80",
    "Subject: hi\r\n",
    "\r\n .",
    "abcdefghijklmnopqrstuvwxyz0123456789",
};

// Rarer: one input in four may hold them, so that other refusals still come up often.
const std::string_view kNulTokens[] = {
    std::string_view("\0", 1),
    std::string_view("\r\n\0.\r\n", 6),
    std::string_view("\0\r\n", 3),
};

std::string random_input(std::mt19937& random) {
    std::string input;
    const std::size_t tokens = random() % 60;
    const bool with_nul = random() % 4 == 0;
    const bool with_long = random() % 4 == 0;
    for (std::size_t index = 0; index < tokens; ++index) {
        if (with_nul && random() % 8 == 0) {
            input += kNulTokens[random() % std::size(kNulTokens)];
        } else if (with_long && random() % 8 == 0) {
            input += std::string(985 + random() % 20, "xy.\xC3"[random() % 4]);  // near 998
        } else {
            input += kTokens[random() % std::size(kTokens)];
        }
    }
    return input;
}

// Limits near the input's own size, so that "exactly at" and "one over" come up often.
PassLimits random_limits(std::mt19937& random, std::size_t input_bytes) {
    PassLimits limits;
    // The model is of the framing and content layers; mime_scanner_test checks the charset scan.
    limits.require_utf8_charsets = false;
    limits.bare_line_endings =
        random() % 2 == 0 ? BareLineEndings::reject : BareLineEndings::normalize;
    limits.require_valid_utf8 = random() % 4 != 0;
    limits.message_bytes_max = random() % 3 == 0 ? 1 + random() % (input_bytes + 2) : 0;
    limits.header_bytes_max = random() % 3 == 0 ? random() % (input_bytes + 2) : 256 * 1024;
    switch (random() % 8) {
        case 0:
            limits.line_bytes_max = 0;  // no limit
            break;
        case 1:
            limits.line_bytes_max = 1 + random() % 40;  // the short tokens make such lines
            break;
        default:
            limits.line_bytes_max = 998;  // the long tokens come near it
            break;
    }
    return limits;
}

std::vector<std::size_t> random_cuts(std::mt19937& random, std::size_t size) {
    std::vector<std::size_t> cuts;
    const std::size_t count = random() % 6;
    for (std::size_t index = 0; index < count; ++index) {
        cuts.push_back(random() % (size + 1));
    }
    std::sort(cuts.begin(), cuts.end());
    return cuts;
}

TEST(ReferenceModel, UtfSetsAgreeWithKnownCases) {
    // The model's own sanity: a few facts RFC 3629 states outright.
    bool truncated = false;
    EXPECT_EQ(first_ill_formed("\xC0\x80", truncated), 0u);
    EXPECT_EQ(first_ill_formed("a\xED\xA0\x80", truncated), 2u);
    EXPECT_EQ(first_ill_formed("\xF4\x90\x80\x80", truncated), 1u);
    EXPECT_FALSE(first_ill_formed("\xF4\x8F\xBF\xBF\xEF\xBF\xBF", truncated).has_value());
    EXPECT_FALSE(truncated);
    EXPECT_FALSE(first_ill_formed("\xF0\x9F\x98", truncated).has_value());
    EXPECT_TRUE(truncated);
}

TEST(ReferenceModel, RandomInputsMatchTheModel) {
    std::mt19937 random(20240611);
    int finished_data = 0;
    int refused = 0;
    int long_lines = 0;
    int long_lines_998 = 0;
    for (int round = 0; round < 50000; ++round) {
        const std::string input = random_input(random);
        const PassLimits limits = random_limits(random, input.size());
        const bool dot_stuffed = random() % 2 == 0;
        const std::vector<std::size_t> cuts = random_cuts(random, input.size());
        MessagePass pass(limits);
        const PassRun real = dot_stuffed ? test_support::run_data(pass, input, cuts)
                                         : test_support::run_bdat(pass, input, cuts);
        const PassRun expected = model(input, dot_stuffed, limits);
        ASSERT_TRUE(test_support::same_result(real, expected))
            << "input \"" << test_support::escaped(input) << "\" dot_stuffed=" << dot_stuffed
            << " normalize=" << (limits.bare_line_endings == BareLineEndings::normalize)
            << " utf8=" << limits.require_valid_utf8 << " max=" << limits.message_bytes_max
            << " header_max=" << limits.header_bytes_max << " line_max=" << limits.line_bytes_max
            << "\nreal  " << real << "\nmodel " << expected;
        finished_data += dot_stuffed && real.finished ? 1 : 0;
        refused += real.outcome.verdict != Verdict::accepted ? 1 : 0;
        if (real.outcome.verdict == Verdict::line_too_long) {
            ++(limits.line_bytes_max == 998 ? long_lines_998 : long_lines);
        }
    }
    // The inputs reach the interesting paths often enough to mean something.
    EXPECT_GT(finished_data, 5000);
    EXPECT_GT(refused, 12000);
    EXPECT_LT(refused, 45000);
    EXPECT_GT(long_lines, 1000);
    EXPECT_GT(long_lines_998, 1000);
}

}  // namespace
}  // namespace relay::message
