// body_hash.cc -- simple and relaxed body canonicalization (RFC 6376 §3.4.3, §3.4.4, §3.7)
// streamed into SHA-256.
//
// Untrusted bytes: the message body; any input is hashed. Thread: the one feeding the hasher.
// Never: allocate, copy the body, hash byte by byte outside the held edges of a chunk.
//
// Each chunk is cut in three: the head up to its first content octet, the middle up to its last
// content octet, and the tail after it ("content": anything but CR and LF, and for relaxed also
// anything but SP and HTAB). Only the head and the tail can depend on the neighbouring chunks;
// they go through a byte-at-a-time state machine that holds line ends, a whitespace run and a CR
// until the next octet decides them. The middle starts after a content octet and ends on one, so
// none of it is trailing: under simple it is hashed as it is, in one call; under relaxed it
// differs from its canonical form only at an HTAB and at an SP followed by SP, HTAB or CR, which
// a 16-octet scan finds, and the runs between those are hashed in large slices.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>
// clang-format on

#include "relay/dkim/body_hash.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

#include "relay/base/assert.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace relay::dkim {
namespace {

constexpr std::size_t line_ends_per_call = 256;
constexpr auto crlf_block = [] {
    std::array<char, 2 * line_ends_per_call> block{};
    for (std::size_t index = 0; index < block.size(); index += 2) {
        block[index] = '\r';
        block[index + 1] = '\n';
    }
    return block;
}();

bool is_whitespace(char c) {
    return c == ' ' || c == '\t';
}

bool is_content(char c, Canonicalization canonicalization) {
    if (c == '\r' || c == '\n') {
        return false;
    }
    return canonicalization == Canonicalization::simple || !is_whitespace(c);
}

// The first octet in [position, end) where the relaxed form differs from the input: an HTAB, or
// an SP followed by SP, HTAB or CR. `end[-1]` is a content octet, so an SP never ends the range.
const char* find_relaxed_change(const char* position, const char* end) {
#if defined(__SSE2__)
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i space = _mm_set1_epi8(' ');
    const __m128i cr = _mm_set1_epi8('\r');
    while (end - position >= 17) {
        const __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(position));
        const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(position + 1));
        const __m128i next_special =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(next, space), _mm_cmpeq_epi8(next, tab)),
                         _mm_cmpeq_epi8(next, cr));
        const __m128i change = _mm_or_si128(
            _mm_cmpeq_epi8(here, tab), _mm_and_si128(_mm_cmpeq_epi8(here, space), next_special));
        const int mask = _mm_movemask_epi8(change);
        if (mask != 0) {
            return position + __builtin_ctz(static_cast<unsigned>(mask));
        }
        position += 16;
    }
#endif
    for (; position < end; ++position) {
        if (*position == '\t') {
            return position;
        }
        if (*position == ' ' && position + 1 < end &&
            (is_whitespace(position[1]) || position[1] == '\r')) {
            return position;
        }
    }
    return end;
}

wc_Sha256* sha_of(unsigned char* storage) {
    return std::launder(reinterpret_cast<wc_Sha256*>(storage));
}

}  // namespace

BodyHasher::BodyHasher(Canonicalization canonicalization) : canonicalization_(canonicalization) {
    static_assert(sizeof(wc_Sha256) <= sizeof(sha_), "BodyHasher::sha_ is too small");
    static_assert(alignof(wc_Sha256) <= 16, "BodyHasher::sha_ is not aligned enough");
    auto* sha = new (sha_) wc_Sha256;
    // wc_InitSha256 without async or callbacks fails only on a null argument.
    RELAY_ASSERT(wc_InitSha256(sha) == 0);
}

BodyHasher::~BodyHasher() {
    wc_Sha256Free(sha_of(sha_));
}

void BodyHasher::feed(const char* data, std::size_t size) {
    canonical_bytes_ += size;
    if (size >= direct_bytes_min) {
        flush_staging();
        update(data, size);
        return;
    }
    if (staged_bytes_ + size > staging_bytes_max) {
        flush_staging();
    }
    std::memcpy(staging_ + staged_bytes_, data, size);
    staged_bytes_ += size;
}

void BodyHasher::flush_staging() {
    if (staged_bytes_ > 0) {
        update(staging_, staged_bytes_);
        staged_bytes_ = 0;
    }
}

void BodyHasher::update(const char* data, std::size_t size) {
    constexpr std::size_t slice_bytes_max = std::size_t{1} << 30;  // word32 lengths
    while (size > 0) {
        const std::size_t slice = std::min(size, slice_bytes_max);
        RELAY_ASSERT(wc_Sha256Update(sha_of(sha_), reinterpret_cast<const byte*>(data),
                                     static_cast<word32>(slice)) == 0);
        data += slice;
        size -= slice;
    }
}

void BodyHasher::feed_line_ends(std::uint64_t count) {
    while (count > 0) {
        const std::uint64_t now = std::min<std::uint64_t>(count, line_ends_per_call);
        feed(crlf_block.data(), static_cast<std::size_t>(2 * now));
        count -= now;
    }
}

// Before a content octet: the held line ends are inner empty lines, a held whitespace run is
// inner whitespace (one SP under relaxed).
void BodyHasher::flush_held() {
    if (held_line_ends_ > 0) {
        feed_line_ends(held_line_ends_);
        held_line_ends_ = 0;
    }
    if (held_whitespace_) {
        feed(" ", 1);
        held_whitespace_ = false;
    }
    content_seen_ = true;
}

// The byte-at-a-time state machine, for the edges of a chunk.
void BodyHasher::slow(const char* begin, const char* end) {
    for (const char* position = begin; position < end; ++position) {
        const char c = *position;
        if (held_cr_) {
            held_cr_ = false;
            if (c == '\n') {
                // A line end: whitespace before it is trailing, dropped under relaxed.
                held_whitespace_ = false;
                ++held_line_ends_;
                continue;
            }
            flush_held();  // a lone CR is an octet of the line
            feed("\r", 1);
        }
        if (c == '\r') {
            held_cr_ = true;
        } else if (canonicalization_ == Canonicalization::relaxed && is_whitespace(c)) {
            held_whitespace_ = true;
        } else {
            flush_held();
            feed(position, 1);
        }
    }
}

// [begin, end) follows a content octet and ends with one (see the file comment).
void BodyHasher::fast_relaxed(const char* begin, const char* end) {
    const char* run = begin;
    const char* position = begin;
    while (position < end) {
        position = find_relaxed_change(position, end);
        if (position == end) {
            break;
        }
        feed(run, static_cast<std::size_t>(position - run));
        const char* after = position;
        while (is_whitespace(*after)) {
            ++after;  // stops inside the range: its last octet is not whitespace
        }
        RELAY_ASSERT(after < end);
        const bool before_line_end = after[0] == '\r' && after[1] == '\n';
        if (!before_line_end) {
            feed(" ", 1);
        }
        run = after;
        position = after;
    }
    feed(run, static_cast<std::size_t>(end - run));
}

void BodyHasher::body(std::string_view bytes) {
    RELAY_ASSERT(!finished_);
    const char* begin = bytes.data();
    const char* end = begin + bytes.size();
    const char* first =
        std::find_if(begin, end, [this](char c) { return is_content(c, canonicalization_); });
    if (first == end) {
        slow(begin, end);
        return;
    }
    const char* last = end - 1;
    while (!is_content(*last, canonicalization_)) {
        --last;
    }
    slow(begin, first + 1);
    if (canonicalization_ == Canonicalization::relaxed) {
        fast_relaxed(first + 1, last + 1);
    } else {
        feed(first + 1, static_cast<std::size_t>(last - first));
    }
    slow(last + 1, end);
}

Sha256Digest BodyHasher::finish() {
    RELAY_ASSERT(!finished_);
    finished_ = true;
    if (held_cr_) {
        held_cr_ = false;
        flush_held();
        feed("\r", 1);
    }
    // Trailing empty lines and trailing whitespace are dropped; the last line ends with one CRLF
    // (added if it had none). An empty body is CRLF under simple and nothing under relaxed.
    if (content_seen_ || canonicalization_ == Canonicalization::simple) {
        feed("\r\n", 2);
    }
    flush_staging();
    Sha256Digest digest{};
    RELAY_ASSERT(wc_Sha256Final(sha_of(sha_), digest.data()) == 0);
    return digest;
}

}  // namespace relay::dkim
