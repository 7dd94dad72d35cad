// message_pass_fuzzer.cc -- libFuzzer harness for the message pass (DATA and BDAT framing).
//
// Untrusted bytes: the whole input. Checks that the pass never crashes, that splitting the input
// into buffers or chunks at fuzzer-chosen places changes nothing (stored bytes, body, header
// block, outcome, end of data), and the invariants a session relies on: the terminator is
// exactly CRLF "." CRLF, an accepted message has CRLF line endings only, no NUL, and is
// well-formed UTF-8, and nothing beyond the limits reaches the sink (no line longer than the
// line limit, whatever the verdict).
//
// Input layout: [flags][message max, 2][header max, 2][cut count][cuts, 2 each][message bytes].
// Flags: 1 normalize, 2 no UTF-8 check, 4 message max, 8 header max, 16 a line limit of
// 1 + 9 * (flags >> 5) octets (else 998).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_checks.h"
#include "relay/message/message_pass.h"

namespace {

using relay::message::BareLineEndings;
using relay::message::BodyObserver;
using relay::message::HeaderBlock;
using relay::message::MessagePass;
using relay::message::PassLimits;
using relay::message::Sink;
using relay::message::Verdict;

using fuzz_checks::check;
using fuzz_checks::well_formed_utf8;

struct Collector final : Sink, BodyObserver {
    std::string stored;
    std::string body_bytes;
    void append(std::string_view bytes) override {
        check(!bytes.empty());  // empty appends are wasted calls
        stored.append(bytes);
    }
    void body(std::string_view bytes) override {
        check(!bytes.empty());
        body_bytes.append(bytes);
    }
};

struct Result {
    std::string stored;
    std::string body;
    relay::message::Outcome outcome;
    HeaderBlock headers;
    std::size_t consumed = 0;
    bool finished = false;
};

bool same(const Result& left, const Result& right) {
    if (left.headers.fields.size() != right.headers.fields.size()) {
        return false;
    }
    for (std::size_t index = 0; index < left.headers.fields.size(); ++index) {
        const auto& a = left.headers.fields[index];
        const auto& b = right.headers.fields[index];
        if (a.offset != b.offset || a.name_bytes != b.name_bytes ||
            a.field_bytes != b.field_bytes) {
            return false;
        }
    }
    return left.stored == right.stored && left.body == right.body &&
           left.outcome.verdict == right.outcome.verdict &&
           left.outcome.stored_bytes == right.outcome.stored_bytes &&
           left.outcome.has_8bit == right.outcome.has_8bit &&
           left.outcome.bare_line_endings == right.outcome.bare_line_endings &&
           left.outcome.charset == right.outcome.charset &&
           left.outcome.where == right.outcome.where && left.headers.bytes == right.headers.bytes &&
           left.headers.complete == right.headers.complete && left.consumed == right.consumed &&
           left.finished == right.finished;
}

// Each piece goes into its own exact-size heap buffer, freed after the call: a pass that
// remembered a pointer into an earlier buffer, or read past one, trips ASan.
Result feed(MessagePass& pass, std::string_view input, const std::vector<std::size_t>& cuts,
            bool dot_stuffed) {
    Collector collector;
    Result result;
    pass.start(dot_stuffed);
    std::size_t start = 0;
    for (std::size_t index = 0; index <= cuts.size(); ++index) {
        const std::size_t stop = index < cuts.size() ? cuts[index] : input.size();
        const std::size_t size = stop - start;
        std::unique_ptr<char[]> buffer(new char[size == 0 ? 1 : size]);
        std::memcpy(buffer.get(), input.data() + start, size);
        const std::span<char> bytes(buffer.get(), size);
        if (dot_stuffed) {
            const MessagePass::Fed fed = pass.feed_dot_stuffed(bytes, collector, &collector);
            check(fed.consumed <= size);
            result.consumed = start + fed.consumed;
            if (fed.finished) {
                result.finished = true;
                break;
            }
            check(fed.consumed == size);
        } else {
            pass.feed_chunk(bytes, collector, &collector);
        }
        start = stop;
    }
    if (!dot_stuffed) {
        pass.finish_chunks(collector, &collector);
        result.consumed = input.size();
        result.finished = true;
    }
    result.stored = std::move(collector.stored);
    result.body = std::move(collector.body_bytes);
    result.outcome = pass.outcome();
    result.headers = pass.headers();
    return result;
}

bool only_crlf_line_endings(std::string_view bytes) {
    for (std::size_t index = 0; index < bytes.size(); ++index) {
        if (bytes[index] == '\r' && (index + 1 == bytes.size() || bytes[index + 1] != '\n')) {
            return false;
        }
        if (bytes[index] == '\n' && (index == 0 || bytes[index - 1] != '\r')) {
            return false;
        }
    }
    return true;
}

// Every stored line is within the limit; a line_too_long verdict stops the sink exactly at it.
void check_lines(const Result& result, const PassLimits& limits) {
    const std::string_view stored = result.stored;
    std::size_t start = 0;
    std::uint64_t lines = 1;
    std::string_view line;
    while (true) {
        const std::size_t lf = stored.find('\n', start);
        line =
            stored.substr(start, lf == std::string_view::npos ? stored.size() - start : lf - start);
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        check(limits.line_bytes_max == 0 || line.size() <= limits.line_bytes_max);
        if (lf == std::string_view::npos) {
            break;
        }
        start = lf + 1;
        ++lines;
    }
    if (result.outcome.verdict == Verdict::line_too_long) {
        check(result.outcome.long_line_number == lines);
        check(line.size() == limits.line_bytes_max && !stored.ends_with('\r'));
    } else {
        check(result.outcome.long_line_number == 0);
    }
}

void check_invariants(const Result& result, std::string_view input, const PassLimits& limits,
                      bool dot_stuffed) {
    check(result.outcome.stored_bytes == result.stored.size());
    check(result.stored.starts_with(result.headers.bytes));
    check(result.headers.bytes.size() <= limits.header_bytes_max);
    if (limits.message_bytes_max != 0) {
        check(result.stored.size() <= limits.message_bytes_max);
    }
    if (result.headers.complete) {
        check(result.headers.bytes.ends_with("\r\n"));
        check(result.body == std::string_view(result.stored).substr(result.headers.bytes.size()));
    } else {
        check(result.body.empty());
    }
    for (const auto& field : result.headers.fields) {
        check(field.offset + field.field_bytes <= result.headers.bytes.size());
        check(field.name_bytes < field.field_bytes);
    }
    if (dot_stuffed && result.finished) {
        const std::string_view message = input.substr(0, result.consumed);
        check(message == ".\r\n" || message.ends_with("\r\n.\r\n"));
    }
    check(result.stored.find('\0') == std::string::npos);  // never past a NUL
    check_lines(result, limits);
    if (result.outcome.verdict != Verdict::accepted) {
        return;
    }
    check(only_crlf_line_endings(result.stored));
    if (limits.bare_line_endings == BareLineEndings::reject) {
        check(result.outcome.bare_line_endings == 0);
    }
    if (limits.require_valid_utf8 && result.finished) {
        check(well_formed_utf8(result.stored));
    }
    if (dot_stuffed && result.finished) {
        check(result.stored.empty() || result.stored.ends_with("\r\n"));
    }
}

std::uint16_t read16(const std::uint8_t* data) {
    return static_cast<std::uint16_t>(data[0] | data[1] << 8);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 6) {
        return 0;
    }
    PassLimits limits;
    const std::uint8_t flags = data[0];
    limits.bare_line_endings =
        (flags & 1) != 0 ? BareLineEndings::normalize : BareLineEndings::reject;
    limits.require_valid_utf8 = (flags & 2) == 0;
    limits.message_bytes_max = (flags & 4) != 0 ? read16(data + 1) : 0;
    limits.header_bytes_max = (flags & 8) != 0 ? read16(data + 3) : 256 * 1024;
    limits.line_bytes_max = (flags & 16) != 0 ? 1 + 9 * (flags >> 5) : 998;
    const std::size_t cut_count = data[5] % 16;
    std::size_t offset = 6;
    if (size < offset + 2 * cut_count) {
        return 0;
    }
    std::vector<std::size_t> raw_cuts;
    for (std::size_t index = 0; index < cut_count; ++index, offset += 2) {
        raw_cuts.push_back(read16(data + offset));
    }
    const std::string_view input(reinterpret_cast<const char*>(data + offset), size - offset);
    std::vector<std::size_t> cuts;
    for (const std::size_t cut : raw_cuts) {
        cuts.push_back(cut % (input.size() + 1));
    }
    std::sort(cuts.begin(), cuts.end());
    std::vector<std::size_t> every;  // byte by byte, for short inputs
    for (std::size_t cut = 1; cut < input.size() && input.size() <= 256; ++cut) {
        every.push_back(cut);
    }

    MessagePass pass(limits);
    for (const bool dot_stuffed : {true, false}) {
        const Result whole = feed(pass, input, {}, dot_stuffed);
        check_invariants(whole, input, limits, dot_stuffed);
        check(same(feed(pass, input, cuts, dot_stuffed), whole));
        check(same(feed(pass, input, every, dot_stuffed), whole));
    }
    return 0;
}
