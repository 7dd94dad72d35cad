// smtp_reply_fuzzer.cc -- libFuzzer harness for ReplyReader and append_reply.
//
// The input is a byte stream from a remote server. The harness reads it twice: in one feed,
// and split at pseudo-random points derived from the input itself, and requires the same replies
// and the same verdict both ways (the reader must not care where TCP cuts the stream). Each reply
// must be well formed and within bounds, and written back with append_reply it must read back
// unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/reply.h"

namespace {

using namespace relay::smtp;

#define FUZZ_CHECK(condition)                                                           \
    do {                                                                                \
        if (!(condition)) {                                                             \
            std::fprintf(stderr, "check failed: %s (line %d)\n", #condition, __LINE__); \
            std::abort();                                                               \
        }                                                                               \
    } while (false)

struct Outcome {
    std::vector<Reply> replies;
    bool broken = false;
    std::string reason;
};

// Chunk lengths from a small xorshift generator seeded by the input: deterministic per input,
// and varied across inputs, including many one-octet chunks.
class Splitter {
  public:
    explicit Splitter(std::string_view input) {
        for (const char c : input.substr(0, 16)) {
            state_ = state_ * 131 + static_cast<unsigned char>(c);
        }
        state_ |= 1;
    }
    std::size_t next_length(std::size_t left) {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 7;
        state_ ^= state_ << 17;
        const std::size_t limit = (state_ & 0x100) != 0 ? 4 : 64;
        return std::min(left, static_cast<std::size_t>(state_ % limit) + 1);
    }

  private:
    std::uint64_t state_ = 0x9E3779B97F4A7C15ULL;
};

void check_reply(const Reply& reply) {
    FUZZ_CHECK(reply.code >= 200 && reply.code <= 559);
    FUZZ_CHECK(reply.code % 100 / 10 <= 5);
    if (!reply.enhanced.empty()) {
        FUZZ_CHECK(reply.enhanced[0] - '0' == reply.code / 100);
        FUZZ_CHECK(reply.enhanced.size() >= 5 && reply.enhanced.size() <= 9);
        FUZZ_CHECK(reply.enhanced.find_first_of(" \r\n") == std::string::npos);
    }
    std::size_t lines = 1;
    for (const char c : reply.text) {
        lines += c == '\n' ? 1 : 0;
    }
    FUZZ_CHECK(lines <= ReplyReader::lines_max);
    FUZZ_CHECK(reply.text.size() <= ReplyReader::lines_max * (ReplyReader::line_bytes_max + 1));
    const std::string summary = reply.summary();
    FUZZ_CHECK(summary.substr(0, 3) == std::to_string(reply.code));
    FUZZ_CHECK(summary.find('\n') == std::string::npos);
}

Outcome read(std::string_view input, bool split) {
    Outcome outcome;
    ReplyReader reader;
    Splitter splitter(input);
    std::string_view pending;
    // Every round either consumes input, takes a reply, or moves a new chunk into `pending`.
    while (!input.empty() || !pending.empty()) {
        if (pending.empty()) {
            const std::size_t length = split ? splitter.next_length(input.size()) : input.size();
            pending = input.substr(0, length);
            input.remove_prefix(length);
        }
        const std::size_t consumed = reader.feed(pending);
        FUZZ_CHECK(consumed <= pending.size());
        pending.remove_prefix(consumed);
        if (auto reply = reader.take()) {
            check_reply(*reply);
            outcome.replies.push_back(std::move(*reply));
        } else {
            // Without a complete reply the reader must have taken everything it was given.
            FUZZ_CHECK(pending.empty());
        }
    }
    outcome.broken = reader.broken();
    outcome.reason = reader.broken_reason();
    FUZZ_CHECK(outcome.broken == !outcome.reason.empty());
    return outcome;
}

bool same(const Reply& a, const Reply& b) {
    return a.code == b.code && a.enhanced == b.enhanced && a.text == b.text;
}

// append_reply then read: the same reply, when every written line fits the reader's limit
// (written continuation lines gain the enhanced code, so they can grow).
void check_round_trip(const Reply& reply) {
    std::string written;
    append_reply(written, reply.code, reply.enhanced, reply.text);
    std::size_t line_start = 0;
    while (line_start < written.size()) {
        const std::size_t end = written.find("\r\n", line_start);
        FUZZ_CHECK(end != std::string::npos);
        if (end - line_start > ReplyReader::line_bytes_max) {
            return;
        }
        line_start = end + 2;
    }
    const Outcome again = read(written, false);
    FUZZ_CHECK(!again.broken);
    FUZZ_CHECK(again.replies.size() == 1);
    FUZZ_CHECK(same(again.replies[0], reply));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const Outcome whole = read(input, false);
    const Outcome split = read(input, true);
    FUZZ_CHECK(whole.broken == split.broken);
    FUZZ_CHECK(whole.reason == split.reason);
    FUZZ_CHECK(whole.replies.size() == split.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        FUZZ_CHECK(same(whole.replies[i], split.replies[i]));
        check_round_trip(whole.replies[i]);
    }
    return 0;
}
