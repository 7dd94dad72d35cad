// message.cc -- builds loadgen's messages (RFC 5322 header block, RFC 5321 section 4.5.2
// dot-stuffing of the body pool, RFC 6532 UTF-8 Subject with --smtputf8).
//
// Untrusted bytes: none. Threads: the pool is built on main; `build` runs on any worker and writes
// only into its own Message. Must never: do per-byte work in `build` (the body is a pool slice).
#define XXH_STATIC_LINKING_ONLY
#include "message.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <iterator>

#include "relay/base/assert.h"

namespace loadgen {
namespace {

constexpr std::size_t line_chars = 76;
constexpr std::size_t start_lines = 4096;  // distinct places a body can start in the pool
constexpr std::size_t tail_bytes_max = line_chars + 2 + 1;

constexpr std::string_view alphanumeric =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::uint64_t split_mix(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Printable ASCII (space to '~'); the first and last character are alphanumeric so that lines
// neither start with '.' by chance nor end in white space.
std::string random_line(std::uint64_t& state, std::size_t length) {
    std::string line(length, ' ');
    for (std::size_t i = 0; i < length; ++i) {
        std::uint64_t value = split_mix(state);
        bool edge = i == 0 || i + 1 == length;
        line[i] =
            edge ? alphanumeric[value % alphanumeric.size()] : static_cast<char>(' ' + value % 95);
    }
    return line;
}

// With --dot-lines some lines start with '.': a full line, and the lone "." and ".." that would
// end or corrupt the data if a side forgot to stuff or unstuff them.
std::string pool_line(std::uint64_t& state, std::size_t number, bool dot_lines) {
    if (dot_lines && number % 64 == 21) {
        return ".";
    }
    if (dot_lines && number % 64 == 37) {
        return "..";
    }
    std::string line = random_line(state, line_chars);
    if (dot_lines && number % 16 == 5) {
        line[0] = '.';
    }
    return line;
}

void format_headers(const MessageSettings& s, std::uint64_t index, std::uint32_t first_recipient,
                    std::string& out) {
    out.clear();
    auto sink = std::back_inserter(out);
    fmt::format_to(sink, "From: loadgen <{}>\r\nTo: ", s.from);
    for (std::uint32_t i = 0; i < s.recipients; ++i) {
        const std::string& to = s.to[(first_recipient + i) % s.to.size()];
        fmt::format_to(sink, "{}<{}>", i == 0 ? "" : ",\r\n ", to);
    }
    fmt::format_to(sink, "\r\nSubject: loadgen message {}{}\r\n", index,
                   s.smtputf8 ? " \xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac" : "");
    fmt::format_to(sink,
                   "Date: {}\r\nMessage-ID: <loadgen-{}-{}@loadgen.invalid>\r\n"
                   "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 7bit\r\n\r\n",
                   s.date, index, s.run_id);
}

}  // namespace

void Message::raw_iovecs(iovec* out) const {
    out[0] = {const_cast<char*>(headers.data()), headers.size()};
    out[1] = {const_cast<char*>(raw_body.data()), raw_body.size()};
    out[2] = {const_cast<char*>(tail.data()), tail.size()};
}

void Message::wire_iovecs(iovec* out) const {
    out[0] = {const_cast<char*>(headers.data()), headers.size()};
    out[1] = {const_cast<char*>(wire_body.data()), wire_body.size()};
    out[2] = {const_cast<char*>(tail.data()), tail.size()};
}

std::uint64_t Message::hash() const {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, headers.data(), headers.size());
    XXH3_64bits_update(&state, raw_body.data(), raw_body.size());
    XXH3_64bits_update(&state, tail.data(), tail.size());
    return XXH3_64bits_digest(&state);
}

relay::Status MessageFactory::check(const MessageSettings& settings) {
    std::string headers;
    std::size_t longest = 0;
    for (std::uint32_t first = 0; first < settings.to.size(); ++first) {
        format_headers(settings, settings.index_max, first, headers);
        longest = std::max(longest, headers.size());
    }
    if (longest + body_bytes_min > settings.size_bytes) {
        return relay::Error{fmt::format("--size must be at least {} for these addresses",
                                        longest + body_bytes_min)};
    }
    return {};
}

MessageFactory::MessageFactory(MessageSettings settings) : settings_(std::move(settings)) {
    RELAY_ASSERT(!settings_.to.empty());
    RELAY_ASSERT(settings_.recipients >= 1 && settings_.recipients <= settings_.to.size());
    build_pool();
}

void MessageFactory::build_pool() {
    std::uint64_t state = settings_.seed ^ 0x6c6f616467656e31ULL;  // "loadgen1"
    raw_line_offsets_.push_back(0);
    wire_line_offsets_.push_back(0);
    // Enough lines that a body of size_bytes fits after the last starting line.
    for (std::size_t number = 0;; ++number) {
        if (number > start_lines && raw_line_offsets_.back() - raw_line_offsets_[start_lines] >
                                        settings_.size_bytes + tail_bytes_max) {
            break;
        }
        std::string line = pool_line(state, number, settings_.dot_lines);
        raw_pool_ += line;
        raw_pool_ += "\r\n";
        if (line.front() == '.') {
            wire_pool_ += '.';
        }
        wire_pool_ += line;
        wire_pool_ += "\r\n";
        raw_line_offsets_.push_back(raw_pool_.size());
        wire_line_offsets_.push_back(wire_pool_.size());
    }
    tails_.resize(tail_bytes_max + 1);
    std::string filler = random_line(state, tail_bytes_max);
    for (std::size_t bytes = 2; bytes <= tail_bytes_max; ++bytes) {
        tails_[bytes] = filler.substr(0, bytes - 2) + "\r\n";
    }
}

void MessageFactory::build(std::uint64_t index, Message& out) const {
    const std::size_t recipient_count = settings_.to.size();
    out.index = index;
    out.first_recipient = static_cast<std::uint32_t>((index % recipient_count) *
                                                     settings_.recipients % recipient_count);
    format_headers(settings_, index, out.first_recipient, out.headers);
    RELAY_ASSERT(out.headers.size() + body_bytes_min <= settings_.size_bytes);
    const std::uint64_t body_bytes = settings_.size_bytes - out.headers.size();

    std::uint64_t state = settings_.seed + index * 0xd1b54a32d192ed03ULL;
    const std::size_t start = split_mix(state) % start_lines;
    const std::uint64_t target = raw_line_offsets_[start] + body_bytes;
    auto after =
        std::upper_bound(raw_line_offsets_.begin() + start, raw_line_offsets_.end(), target);
    RELAY_ASSERT(after != raw_line_offsets_.end());
    std::size_t end = static_cast<std::size_t>(after - raw_line_offsets_.begin()) - 1;
    std::uint64_t rest = target - raw_line_offsets_[end];
    if (rest == 1) {  // a tail needs its CRLF: give it the previous line's bytes too
        --end;
        rest += raw_line_offsets_[end + 1] - raw_line_offsets_[end];
    }
    RELAY_ASSERT(end > start && rest <= tail_bytes_max && rest != 1);
    out.raw_body = std::string_view(raw_pool_).substr(
        raw_line_offsets_[start], raw_line_offsets_[end] - raw_line_offsets_[start]);
    out.wire_body =
        std::string_view(wire_pool_)
            .substr(wire_line_offsets_[start], wire_line_offsets_[end] - wire_line_offsets_[start]);
    out.tail = tails_[rest];
    RELAY_ASSERT(out.size_bytes() == settings_.size_bytes);
}

}  // namespace loadgen
