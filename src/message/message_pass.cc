// message_pass.cc -- the one pass over a message's bytes as they arrive: DATA framing and
// dot-unstuffing, bare CR/LF handling, NUL octets, line length, size limit, UTF-8 validation,
// header block, output.
//
// Untrusted bytes: everything here reads what a client sent; any input yields a verdict.
// Thread: the worker that owns the session; one MessagePass per session, never shared.
// Standards: RFC 5321 §4.1.1.4 (end of data is CRLF "." CRLF only), §4.5.2 (transparency),
// RFC 3030 (BDAT chunks carry raw bytes), RFC 3629 §3-4 (well-formed UTF-8), RFC 5322 §2.2
// (header fields, folding), §2.1 and §3.5 (text has no NUL), §2.1.1 (998 octets a line).
// Never: allocate per byte or per line (only the bounded header block grows), log, block, read
// outside the given span, or let a bare CR or bare LF act as a line ending for the framing.
//
// Two layers. The framing layer walks the received bytes and finds "runs": spans of the input
// that are stored unchanged. It cuts a run only where a byte is dropped (a stuffed dot, the
// terminator) or added (a normalised line ending), so a buffer without either goes on in one
// piece. It also refuses NUL octets, which the search for CR and LF finds at no extra pass, and
// counts line lengths where it finds line ends, with a compare per line and no pass over the
// octets: a line is checked when it ends, when the buffer ends, and before any stored octets
// past it could reach a check of the content layer, so the first refusal is still the earliest.
// The
// content layer (`store`) takes each run and applies, in byte order, the size limit, UTF-8
// validation and the header block, then hands the run to the sink and the body observer. Its
// decisions depend only on the position in the stored stream, so the result does not depend on how
// the input was split into buffers.
#include "relay/message/message_pass.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "relay/base/assert.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace relay::message {
namespace {

constexpr char kCr = '\r';
constexpr char kLf = '\n';
constexpr char kNul = '\0';
constexpr std::string_view kCrLf = "\r\n";
constexpr std::string_view kCrOnly = "\r";
constexpr std::string_view kLfOnly = "\n";

// Octets <= 0x0D that the framing reacts to: bit n set for octet n.
constexpr unsigned kFramingBits = 1u << kCr | 1u << kLf | 1u << kNul;
static_assert(kLf < kCr && kNul < kCr, "the filter keeps the octets <= kCr");

// The first CR, LF or NUL in [position, end), or end. The only bytes the framing reacts to
// inside a line, so this loop is where DATA and BDAT spend their time. All three are <= 0x0D:
// one unsigned minimum and one compare per 16 octets find the candidates. In plain text the
// first candidate of a block is the CR (about one block a line), looked up in kFramingBits; when
// it is an HT or another control, three exact compares settle the block.
const char* find_framing_byte(const char* position, const char* end) {
#if defined(__SSE2__)
    const __m128i highest = _mm_set1_epi8(kCr);
    while (end - position >= 16) {
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(position));
        const __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(block, highest), block);
        const auto candidates = static_cast<unsigned>(_mm_movemask_epi8(low));
        if (candidates != 0) {
            const int index = __builtin_ctz(candidates);
            if ((kFramingBits >> static_cast<unsigned char>(position[index]) & 1) != 0) {
                return position + index;  // plain text: the first candidate is the CR
            }
            // An HT or another control first: compare the block exactly.
            const __m128i hits =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8(kCr)),
                                          _mm_cmpeq_epi8(block, _mm_set1_epi8(kLf))),
                             _mm_cmpeq_epi8(block, _mm_set1_epi8(kNul)));
            const auto exact = static_cast<unsigned>(_mm_movemask_epi8(hits));
            if (exact != 0) {
                return position + __builtin_ctz(exact);
            }
        }
        position += 16;
    }
#endif
    while (position < end && *position != kCr && *position != kLf && *position != kNul) {
        ++position;
    }
    return position;
}

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

std::uint64_t load64(const char* data) {
    std::uint64_t word = 0;
    std::memcpy(&word, data, sizeof word);
    return word;
}

bool has_high_byte(const char* data, std::size_t size) {
    std::size_t index = 0;
    for (; index + 16 <= size; index += 16) {
        if (((load64(data + index) | load64(data + index + 8)) & kHighBits) != 0) {
            return true;
        }
    }
    for (; index < size; ++index) {
        if (static_cast<unsigned char>(data[index]) >= 0x80) {
            return true;
        }
    }
    return false;
}

// UTF-8 validation as a DFA whose states are bit offsets: row[octet] packs, at offset `state`,
// the next state, so one step is a load (independent of the state), a shift and a mask. States
// name what the next octet must be (RFC 3629 §4 table).
namespace utf8 {
constexpr std::uint64_t accept = 0;     // between characters
constexpr std::uint64_t tail1 = 6;      // one more 80..BF
constexpr std::uint64_t tail2 = 12;     // two more 80..BF
constexpr std::uint64_t tail3 = 18;     // three more 80..BF
constexpr std::uint64_t after_e0 = 24;  // A0..BF, then one more (no overlong)
constexpr std::uint64_t after_ed = 30;  // 80..9F, then one more (no surrogate)
constexpr std::uint64_t after_f0 = 36;  // 90..BF, then two more (no overlong)
constexpr std::uint64_t after_f4 = 42;  // 80..8F, then two more (not above U+10FFFF)
constexpr std::uint64_t reject = 48;    // ill-formed; absorbing
constexpr std::array<std::uint64_t, 9> states = {accept,   tail1,    tail2,    tail3, after_e0,
                                                 after_ed, after_f0, after_f4, reject};

constexpr std::uint64_t step(std::uint64_t state, unsigned octet) {
    const bool tail = octet >= 0x80 && octet <= 0xBF;
    switch (state) {
        case accept:
            if (octet < 0x80) {
                return accept;
            }
            if (octet >= 0xC2 && octet <= 0xDF) {
                return tail1;
            }
            if (octet == 0xE0) {
                return after_e0;
            }
            if (octet == 0xED) {
                return after_ed;
            }
            if (octet >= 0xE1 && octet <= 0xEF) {
                return tail2;
            }
            if (octet == 0xF0) {
                return after_f0;
            }
            if (octet >= 0xF1 && octet <= 0xF3) {
                return tail3;
            }
            return octet == 0xF4 ? after_f4 : reject;
        case tail1:
            return tail ? accept : reject;
        case tail2:
            return tail ? tail1 : reject;
        case tail3:
            return tail ? tail2 : reject;
        case after_e0:
            return octet >= 0xA0 && octet <= 0xBF ? tail1 : reject;
        case after_ed:
            return octet >= 0x80 && octet <= 0x9F ? tail1 : reject;
        case after_f0:
            return octet >= 0x90 && octet <= 0xBF ? tail2 : reject;
        case after_f4:
            return octet >= 0x80 && octet <= 0x8F ? tail2 : reject;
        default:
            return reject;
    }
}

constexpr std::array<std::uint64_t, 256> make_rows() {
    std::array<std::uint64_t, 256> rows{};
    for (unsigned octet = 0; octet < 256; ++octet) {
        for (const std::uint64_t state : states) {
            rows[octet] |= step(state, octet) << state;
        }
    }
    return rows;
}
constexpr std::array<std::uint64_t, 256> rows = make_rows();
static_assert(reject + 6 <= 64, "every state's next state must fit in the row");
static_assert((rows[0xC3] >> accept & 63) == tail1 && (rows[0xA9] >> tail1 & 63) == accept);

// The offset of the octet in [begin, end) that moves `state` to reject; `end` if none does.
std::size_t utf8_reject_offset(const char* data, std::size_t begin, std::size_t end,
                               std::uint64_t state) {
    for (std::size_t index = begin; index < end; ++index) {
        state = (rows[static_cast<unsigned char>(data[index])] >> state) & 63;
        if (state == reject) {
            return index;
        }
    }
    return end;
}
}  // namespace utf8

}  // namespace

MessagePass::MessagePass(const PassLimits& limits)
    : limits_(limits),
      scanner_(MimeLimits{limits.mime_depth_max, static_cast<std::uint32_t>(std::min<std::size_t>(
                                                     limits.header_bytes_max,
                                                     std::numeric_limits<std::uint32_t>::max()))}),
      line_bytes_limit_(limits.line_bytes_max != 0 ? limits.line_bytes_max
                                                   : std::numeric_limits<std::uint64_t>::max()) {
    // Field offsets are 32-bit; the config bounds the header block far below that.
    RELAY_ASSERT(limits_.header_bytes_max <= std::numeric_limits<std::uint32_t>::max());
}

void MessagePass::start(bool dot_stuffed) {
    outcome_ = Outcome{};
    headers_.bytes.clear();  // keeps the capacity: no allocation for the next message
    headers_.fields.clear();
    headers_.complete = false;
    headers_.bytes.reserve(std::min<std::size_t>(limits_.header_bytes_max, 16 * 1024));
    headers_.fields.reserve(64);
    dot_stuffed_ = dot_stuffed;
    finished_ = false;
    // DATA starts right after the CRLF of the DATA command, so at a line start.
    framing_ = dot_stuffed ? Framing::line_start : Framing::text;
    header_done_ = false;
    header_line_offset_ = 0;
    utf8_state_ = utf8::accept;
    line_bytes_ = 0;
    lines_ended_ = 0;
    line_begin_ = nullptr;
    scanner_.start();
}

// The current line's octets go on up to `at` (exclusive): refuses the line if they are too many.
// Runs once per line end and per buffer: one add and one compare.
inline void MessagePass::check_line(const char* at, const char*& run) {
    if (line_bytes_ + static_cast<std::uint64_t>(at - line_begin_) > line_bytes_limit_) {
        line_too_long(at, run);
    }
}

// A stored line ended (CRLF, or a normalised bare ending); the next one starts at `next_line`.
inline void MessagePass::end_line(const char* next_line) {
    line_bytes_ = 0;
    ++lines_ended_;
    line_begin_ = next_line;
}

MessagePass::Fed MessagePass::feed_dot_stuffed(std::span<char> bytes, Sink& sink,
                                               BodyObserver* observer) {
    RELAY_ASSERT(dot_stuffed_ && !finished_);
    sink_ = &sink;
    observer_ = observer;
    const char* const begin = bytes.data();
    const char* const end = begin + bytes.size();
    const char* position = begin;  // next byte to classify
    const char* run = begin;       // first byte not yet stored or dropped
    line_begin_ = begin;
    // Each turn either advances `position` or moves the framing to `text`, which advances.
    while (position < end) {
        position =
            framing_ == Framing::text ? scan_text(position, end, run) : resume(position, end, run);
        if (finished_) {
            return Fed{static_cast<std::size_t>(position - begin), true};
        }
    }
    check_line(end, run);
    line_bytes_ += static_cast<std::uint64_t>(end - line_begin_);
    store(run, end);
    return Fed{bytes.size(), false};
}

void MessagePass::feed_chunk(std::span<char> bytes, Sink& sink, BodyObserver* observer) {
    RELAY_ASSERT(!dot_stuffed_ && !finished_);
    sink_ = &sink;
    observer_ = observer;
    const char* const begin = bytes.data();
    const char* const end = begin + bytes.size();
    const char* position = begin;
    const char* run = begin;
    line_begin_ = begin;
    if (position < end && framing_ == Framing::cr) {
        framing_ = Framing::text;
        if (*position == kLf) {
            store(kCrOnly.data(), kCrOnly.size());  // the held CR; the LF is in the run
            ++position;
            end_line(position);
        } else {
            held_cr_was_bare();
        }
    }
    if (position < end) {
        scan_text(position, end, run);
    }
    check_line(end, run);
    line_bytes_ += static_cast<std::uint64_t>(end - line_begin_);
    store(run, end);
}

void MessagePass::finish_chunks(Sink& sink, BodyObserver* observer) {
    RELAY_ASSERT(!dot_stuffed_ && !finished_);
    sink_ = &sink;
    observer_ = observer;
    if (framing_ == Framing::cr) {
        framing_ = Framing::text;
        held_cr_was_bare();  // the message ends with it: no LF can follow
    }
    finish_message();
}

// Inside a line: stores nothing by itself, only moves `run` where bytes are dropped or added.
// Returns where the caller resumes: `end`, or a line start in DATA framing.
const char* MessagePass::scan_text(const char* position, const char* end, const char*& run) {
    while (true) {
        const char* const found = find_framing_byte(position, end);
        if (found == end) {
            return end;
        }
        if (*found == kNul) {
            nul_octet(found, run);
            position = found + 1;
            continue;
        }
        if (*found == kLf) {
            bare_lf(found, run);
            position = found + 1;
            continue;
        }
        check_line(found, run);  // whatever the CR turns out to be, the line's octets end here
        if (found + 1 == end) {
            store(run, found);  // hold the CR: the next buffer says what it is
            run = end;
            framing_ = Framing::cr;
            line_bytes_ += static_cast<std::uint64_t>(found - line_begin_);
            line_begin_ = end;
            return end;
        }
        if (found[1] != kLf) {
            bare_cr(found, run);
            position = found + 1;
            continue;
        }
        position = found + 2;
        end_line(position);
        if (!dot_stuffed_) {
            continue;
        }
        if (position == end) {
            framing_ = Framing::line_start;
            return end;
        }
        if (*position == '.') {
            store(run, position);  // the line so far; the dot is never stored
            run = position + 1;
            line_begin_ = run;
            framing_ = Framing::dot;
            return position + 1;
        }
    }
}

// DATA framing outside `text`, one step at `position` (< end).
const char* MessagePass::resume(const char* position, const char* end, const char*& run) {
    switch (framing_) {
        case Framing::line_start:
            if (*position != '.') {
                framing_ = Framing::text;
                return position;
            }
            store(run, position);
            run = position + 1;
            line_begin_ = run;
            framing_ = Framing::dot;
            return position + 1;
        case Framing::dot:
            // A stuffed line from here on, unless this is CR LF. A bare CR goes back to `text`,
            // which finds it again and treats it as content.
            if (*position != kCr) {
                framing_ = Framing::text;
                return position;
            }
            if (position + 1 == end) {
                framing_ = Framing::dot_cr;
                run = end;
                line_begin_ = end;
                return end;
            }
            if (position[1] == kLf) {
                finish_message();
                return position + 2;
            }
            framing_ = Framing::text;
            return position;
        case Framing::dot_cr:
            if (*position == kLf) {
                finish_message();
                return position + 1;
            }
            framing_ = Framing::text;
            held_cr_was_bare();
            return position;
        case Framing::cr:
            if (*position == kLf) {
                store(kCrOnly.data(), kCrOnly.size());  // the held CR; the LF is in the run
                framing_ = Framing::line_start;
                end_line(position + 1);
                return position + 1;
            }
            framing_ = Framing::text;
            held_cr_was_bare();
            return position;
        case Framing::text:
            break;
    }
    RELAY_ASSERT(false);
    return end;
}

// The caller has checked the line up to the CR.
void MessagePass::bare_cr(const char* cr, const char*& run) {
    ++outcome_.bare_line_endings;
    if (limits_.bare_line_endings == BareLineEndings::normalize) {
        store(run, cr + 1);
        store(kLfOnly.data(), kLfOnly.size());
        end_line(cr + 1);
    } else {
        store(run, cr);
        refuse(Verdict::bare_line_ending);
    }
    run = cr + 1;
}

void MessagePass::bare_lf(const char* lf, const char*& run) {
    ++outcome_.bare_line_endings;
    check_line(lf, run);
    store(run, lf);
    if (limits_.bare_line_endings == BareLineEndings::normalize) {
        store(kCrOnly.data(), kCrOnly.size());
        run = lf;  // the LF itself stays in the next run
        end_line(lf + 1);
    } else {
        refuse(Verdict::bare_line_ending);
        run = lf + 1;
    }
}

// RFC 5322 text has no NUL (§2.1, §3.5), and a next hop that drops NULs would see CRLF NUL "."
// CRLF as the end of the data.
void MessagePass::nul_octet(const char* nul, const char*& run) {
    if (outcome_.verdict != Verdict::accepted) {
        return;  // only the first refusal counts; the run still reaches note_8bit
    }
    check_line(nul, run);
    store(run, nul);
    refuse(Verdict::nul_octet);
    run = nul;
}

// The line is longer than the limit: the sink gets its octets up to the limit, and the octet
// past it is the offending one (found only now, so nothing after it has been stored yet).
void MessagePass::line_too_long(const char* at, const char*& run) {
    if (outcome_.verdict != Verdict::accepted) {
        return;
    }
    // Every earlier check passed, so the line was within the limit at line_begin_.
    RELAY_ASSERT(at >= line_begin_ && line_bytes_ <= line_bytes_limit_);
    const char* const offending =
        line_begin_ + static_cast<std::size_t>(line_bytes_limit_ - line_bytes_);
    RELAY_ASSERT(run <= offending && offending < at);
    store(run, offending);
    run = offending;
    if (outcome_.verdict == Verdict::accepted) {  // unless the content layer refused earlier
        refuse(Verdict::line_too_long);
        outcome_.long_line_number = lines_ended_ + 1;
    }
}

// A CR held at the end of the previous buffer turned out not to start a CRLF. Its line's octets
// were checked when it was held.
void MessagePass::held_cr_was_bare() {
    ++outcome_.bare_line_endings;
    if (limits_.bare_line_endings == BareLineEndings::normalize) {
        store(kCrLf.data(), kCrLf.size());
        end_line(line_begin_);  // the next line starts where this buffer does
    } else {
        refuse(Verdict::bare_line_ending);
    }
}

void MessagePass::finish_message() {
    finished_ = true;
    if (outcome_.verdict == Verdict::accepted && limits_.require_valid_utf8 &&
        utf8_state_ != utf8::accept) {
        refuse(Verdict::invalid_utf8);  // a sequence cut short by the end of the message
        if (limits_.require_utf8_charsets) {
            outcome_.where = scanner_.location();
        }
    }
    if (outcome_.verdict == Verdict::accepted && limits_.require_utf8_charsets &&
        scanner_.finish()) {
        refuse_mime();  // the last header field, with no line after it
    }
    if (!headers_.complete && header_line_offset_ < headers_.bytes.size()) {
        // The last line of a header-only (or cut short) message has no LF to close it.
        index_header_line(header_line_offset_, static_cast<std::uint32_t>(headers_.bytes.size()));
        header_line_offset_ = static_cast<std::uint32_t>(headers_.bytes.size());
    }
    header_done_ = true;
}

void MessagePass::refuse(Verdict verdict) {
    if (outcome_.verdict == Verdict::accepted) {
        outcome_.verdict = verdict;
    }
}

// The scanner refused: its verdict and what it says about it become the outcome's.
void MessagePass::refuse_mime() {
    const MimeRefusal& refusal = scanner_.refusal();
    switch (refusal.verdict) {
        case MimeVerdict::accepted:
            RELAY_ASSERT(false);
            return;
        case MimeVerdict::charset:
            refuse(Verdict::charset);
            break;
        case MimeVerdict::too_deep:
            refuse(Verdict::mime_too_deep);
            break;
        case MimeVerdict::field_too_large:
            refuse(Verdict::header_too_large);
            break;
        case MimeVerdict::boundary_too_long:
            refuse(Verdict::mime_boundary_too_long);
            break;
    }
    outcome_.charset = refusal.charset;
    outcome_.where = refusal.where;
}

void MessagePass::note_8bit(const char* data, std::size_t size) {
    if (!outcome_.has_8bit) {
        outcome_.has_8bit = has_high_byte(data, size);
    }
}

// The content layer: `data` is the next piece of the message as stored.
void MessagePass::store(const char* data, std::size_t size) {
    if (size == 0) {
        return;
    }
    if (outcome_.verdict != Verdict::accepted) {
        note_8bit(data, size);
        return;
    }
    // Each check may shorten `take` to the offending byte; the earliest position wins.
    std::size_t take = size;
    Verdict verdict = Verdict::accepted;
    if (limits_.message_bytes_max != 0) {
        const std::uint64_t room = limits_.message_bytes_max - outcome_.stored_bytes;
        if (size > room) {
            take = static_cast<std::size_t>(room);
            verdict = Verdict::too_large;
        }
    }
    if (limits_.require_valid_utf8) {
        const std::size_t valid = valid_utf8_prefix(data, take);
        if (valid < take) {
            take = valid;
            verdict = Verdict::invalid_utf8;
        }
    } else {
        note_8bit(data, take);
    }
    if (limits_.require_utf8_charsets) {
        // Fed the bytes the other checks let through, so that on invalid UTF-8 the scanner stands
        // at the offending octet; a refusal of its own wins a tie (split-independent either way).
        const MimeScanner::Fed fed = scanner_.feed(std::string_view(data, take));
        if (fed.refused) {
            take = fed.accepted;
            verdict = Verdict::charset;  // refine below, from the scanner's refusal
        }
    }
    std::size_t header_bytes = 0;
    if (!header_done_) {
        const HeaderTake header = take_header(data, take);
        header_bytes = header.bytes;
        if (header.too_large) {
            take = header.bytes;
            verdict = Verdict::header_too_large;
        }
    }
    if (take > 0) {
        sink_->append(std::string_view(data, take));
        if (observer_ != nullptr && take > header_bytes) {
            observer_->body(std::string_view(data + header_bytes, take - header_bytes));
        }
        outcome_.stored_bytes += take;
    }
    if (verdict == Verdict::charset) {
        refuse_mime();
    }
    if (verdict == Verdict::invalid_utf8 && limits_.require_utf8_charsets) {
        // Only once no earlier refusal (the header block's size) took its place: the scanner
        // still stands at the offending octet.
        outcome_.where = scanner_.location();
    }
    if (verdict != Verdict::accepted) {
        refuse(verdict);
        header_done_ = true;
        note_8bit(data + take, size - take);
    }
}

// How many leading bytes of `data` keep the stream well-formed UTF-8 (so far); the state carries
// over to the next call. ASCII goes 16 bytes at a time while between characters; other bytes go
// through the DFA 16 at a time, with the reject check once per block (reject is absorbing).
std::size_t MessagePass::valid_utf8_prefix(const char* data, std::size_t size) {
    std::uint64_t state = utf8_state_;
    unsigned seen = 0;  // OR of the octets given to the DFA
    std::size_t index = 0;
    while (index < size) {
        if (state == utf8::accept) {
            while (index + 16 <= size &&
                   ((load64(data + index) | load64(data + index + 8)) & kHighBits) == 0) {
                index += 16;
            }
        }
        const std::size_t block = index;
        const std::uint64_t block_state = state;
        const std::size_t stop = std::min(size, index + 16);
        for (; index < stop; ++index) {
            const auto octet = static_cast<unsigned char>(data[index]);
            seen |= octet;
            // Only the low 6 bits of `state` matter; x86 shifts ignore the rest, so the mask
            // costs nothing and the loop-carried chain is one shift per octet.
            state = utf8::rows[octet] >> (state & 63);
        }
        state &= 63;
        if (state == utf8::reject) {
            outcome_.has_8bit = true;  // only an octet >= 0x80 can be ill-formed
            utf8_state_ = state;
            return utf8::utf8_reject_offset(data, block, stop, block_state);
        }
    }
    utf8_state_ = state;
    if ((seen & 0x80) != 0) {
        outcome_.has_8bit = true;
    }
    return size;
}

// Copies the part of `data` that belongs to the header block into headers_.bytes and indexes
// each completed line. Stops after the empty line, or at header_bytes_max.
MessagePass::HeaderTake MessagePass::take_header(const char* data, std::size_t size) {
    std::size_t room = limits_.header_bytes_max - headers_.bytes.size();
    std::size_t index = 0;
    // Each turn consumes at least one byte.
    while (index < size) {
        const void* found = std::memchr(data + index, kLf, size - index);
        const std::size_t line_end =
            found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - data) + 1
                             : size;
        const std::size_t line_bytes = line_end - index;
        if (line_bytes > room) {
            headers_.bytes.append(data + index, room);
            header_done_ = true;
            return HeaderTake{index + room, true};
        }
        headers_.bytes.append(data + index, line_bytes);
        room -= line_bytes;
        index = line_end;
        if (found != nullptr && end_header_line()) {
            return HeaderTake{index, false};
        }
    }
    return HeaderTake{size, false};
}

// A line of the header block just got its LF. Returns true for the empty line.
bool MessagePass::end_header_line() {
    const auto begin = header_line_offset_;
    const auto end = static_cast<std::uint32_t>(headers_.bytes.size());
    header_line_offset_ = end;
    // Stored bytes pair every LF with a CR: the framing never stores a bare one.
    RELAY_ASSERT(end - begin >= 2 && headers_.bytes[end - 2] == kCr);
    if (end - begin == 2) {
        headers_.complete = true;
        header_done_ = true;
        return true;
    }
    index_header_line(begin, end);
    return false;
}

}  // namespace relay::message
