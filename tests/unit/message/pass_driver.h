// pass_driver.h -- feeds a MessagePass the way a session does (DATA buffers or BDAT chunks) and
// collects everything it produced, so tests can compare runs with different buffer splits.
//
// Test code only. Each buffer is a fresh heap copy that is freed right after its feed call, so a
// pass that kept a pointer into an earlier buffer shows up under ASan.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relay/message/message_pass.h"

namespace relay::message::test_support {

struct Collector final : Sink, BodyObserver {
    std::string stored;
    std::string body_bytes;
    std::size_t append_calls = 0;
    void append(std::string_view bytes) override {
        stored.append(bytes);
        ++append_calls;
    }
    void body(std::string_view bytes) override { body_bytes.append(bytes); }
};

struct PassRun {
    std::string stored;
    std::string body;
    Outcome outcome;
    HeaderBlock headers;
    std::size_t consumed = 0;  // DATA: bytes that belonged to the message
    bool finished = false;
    std::size_t append_calls = 0;
};

inline bool same_fields(const std::vector<HeaderField>& left,
                        const std::vector<HeaderField>& right) {
    return std::equal(left.begin(), left.end(), right.begin(), right.end(),
                      [](const HeaderField& a, const HeaderField& b) {
                          return a.offset == b.offset && a.name_bytes == b.name_bytes &&
                                 a.field_bytes == b.field_bytes;
                      });
}

inline bool same_result(const PassRun& left, const PassRun& right) {
    return left.stored == right.stored && left.body == right.body &&
           left.outcome.verdict == right.outcome.verdict &&
           left.outcome.stored_bytes == right.outcome.stored_bytes &&
           left.outcome.has_8bit == right.outcome.has_8bit &&
           left.outcome.bare_line_endings == right.outcome.bare_line_endings &&
           left.outcome.long_line_number == right.outcome.long_line_number &&
           left.outcome.charset == right.outcome.charset &&
           left.outcome.where == right.outcome.where && left.headers.bytes == right.headers.bytes &&
           same_fields(left.headers.fields, right.headers.fields) &&
           left.headers.complete == right.headers.complete && left.consumed == right.consumed &&
           left.finished == right.finished;
}

inline const char* verdict_name(Verdict verdict) {
    switch (verdict) {
        case Verdict::accepted:
            return "accepted";
        case Verdict::bare_line_ending:
            return "bare_line_ending";
        case Verdict::invalid_utf8:
            return "invalid_utf8";
        case Verdict::too_large:
            return "too_large";
        case Verdict::header_too_large:
            return "header_too_large";
        case Verdict::nul_octet:
            return "nul_octet";
        case Verdict::line_too_long:
            return "line_too_long";
        case Verdict::charset:
            return "charset";
        case Verdict::mime_too_deep:
            return "mime_too_deep";
        case Verdict::mime_boundary_too_long:
            return "mime_boundary_too_long";
    }
    return "?";
}

inline std::string escaped(std::string_view bytes) {
    std::string text;
    for (const char octet : bytes) {
        const auto value = static_cast<unsigned char>(octet);
        if (octet == '\r') {
            text += "\\r";
        } else if (octet == '\n') {
            text += "\\n";
        } else if (value < 0x20 || value >= 0x7f) {
            constexpr char digits[] = "0123456789ABCDEF";
            text += "\\x";
            text += digits[value >> 4];
            text += digits[value & 15];
        } else {
            text += octet;
        }
    }
    return text;
}

inline std::ostream& operator<<(std::ostream& out, const PassRun& run) {
    out << "{verdict=" << verdict_name(run.outcome.verdict)
        << " stored_bytes=" << run.outcome.stored_bytes << " 8bit=" << run.outcome.has_8bit
        << " bare=" << run.outcome.bare_line_endings
        << " long_line=" << run.outcome.long_line_number << " consumed=" << run.consumed
        << " finished=" << run.finished << " stored=\"" << escaped(run.stored) << "\" body=\""
        << escaped(run.body) << "\" headers=\"" << escaped(run.headers.bytes)
        << "\" complete=" << run.headers.complete << " fields=" << run.headers.fields.size() << "}";
    return out;
}

// Cuts `input` at the given ascending offsets into pieces (empty pieces allowed).
inline std::vector<std::string_view> pieces_of(std::string_view input,
                                               const std::vector<std::size_t>& cuts) {
    std::vector<std::string_view> pieces;
    std::size_t start = 0;
    for (const std::size_t cut : cuts) {
        pieces.push_back(input.substr(start, cut - start));
        start = cut;
    }
    pieces.push_back(input.substr(start));
    return pieces;
}

inline PassRun finish_run(const MessagePass& pass, Collector& collector, PassRun run) {
    run.stored = std::move(collector.stored);
    run.body = std::move(collector.body_bytes);
    run.append_calls = collector.append_calls;
    run.outcome = pass.outcome();
    run.headers = pass.headers();
    return run;
}

// DATA: feeds the pieces until the pass reports the end; `consumed` counts from the input start.
inline PassRun run_data(MessagePass& pass, std::string_view input,
                        const std::vector<std::size_t>& cuts = {}) {
    Collector collector;
    PassRun run;
    pass.start(true);
    std::size_t offset = 0;
    for (const std::string_view piece : pieces_of(input, cuts)) {
        auto buffer = std::make_unique<char[]>(piece.size() + 1);
        std::copy(piece.begin(), piece.end(), buffer.get());
        const MessagePass::Fed fed = pass.feed_dot_stuffed(
            std::span<char>(buffer.get(), piece.size()), collector, &collector);
        run.consumed = offset + fed.consumed;
        if (fed.finished) {
            run.finished = true;
            break;
        }
        offset += piece.size();
    }
    return finish_run(pass, collector, std::move(run));
}

// BDAT: each piece is one chunk; the last one is BDAT LAST.
inline PassRun run_bdat(MessagePass& pass, std::string_view input,
                        const std::vector<std::size_t>& cuts = {}) {
    Collector collector;
    PassRun run;
    pass.start(false);
    for (const std::string_view piece : pieces_of(input, cuts)) {
        auto buffer = std::make_unique<char[]>(piece.size() + 1);
        std::copy(piece.begin(), piece.end(), buffer.get());
        pass.feed_chunk(std::span<char>(buffer.get(), piece.size()), collector, &collector);
    }
    pass.finish_chunks(collector, &collector);
    run.consumed = input.size();
    run.finished = true;
    return finish_run(pass, collector, std::move(run));
}

inline PassRun run_data(const PassLimits& limits, std::string_view input,
                        const std::vector<std::size_t>& cuts = {}) {
    MessagePass pass(limits);
    return run_data(pass, input, cuts);
}

inline PassRun run_bdat(const PassLimits& limits, std::string_view input,
                        const std::vector<std::size_t>& cuts = {}) {
    MessagePass pass(limits);
    return run_bdat(pass, input, cuts);
}

}  // namespace relay::message::test_support
