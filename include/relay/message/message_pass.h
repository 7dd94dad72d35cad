// message_pass.h -- one pass over the bytes of a message as they arrive (DATA or BDAT).
//
// In that single pass over each received buffer:
//   * DATA framing: end-of-data detection that accepts only CRLF "." CRLF (RFC 5321 §4.1.1.4)
//     and dot-unstuffing (§4.5.2). A bare LF or bare CR never ends the data, whatever the mode:
//     that is what closes SMTP smuggling ("\n.\n", "\r.\r", "\n.\r\n").
//   * bare CR / bare LF in the content: refused by default, or normalised to CRLF when the
//     listener is lenient;
//   * NUL octets: refused (RFC 5322 text has none; a next hop that strips them would see
//     CRLF NUL "." CRLF as the end of the data);
//   * line length: a stored line longer than the limit (RFC 5322 §2.1.1: 998 octets without
//     the CRLF) is refused, since a strict next hop would refuse it after relay said 250;
//   * header-block parsing: the header block (up to the empty line) is kept, bounded, with an
//     index of its fields, for policy and DKIM;
//   * UTF-8 validation of 8-bit content (RFC 3629), carried across buffer boundaries;
//   * the MIME charset scan (mime_scanner.h): declared charsets other than UTF-8 / US-ASCII, in
//     any part or encoded-word, are refused; the scanner also says where invalid UTF-8 is;
//   * the size limit;
//   * the output: the message bytes as they will be stored (unstuffed, CRLF lines) go to a
//     `Sink`, and the body bytes (after the header block) also to an optional `BodyObserver`,
//     which is where the DKIM body hash will be fed from the same pass.
//
// Pure: bytes in, results out; no I/O. Untrusted bytes: any input yields a verdict, never a
// crash. Runs on a worker thread: no allocation per byte, no logging, bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/message/mime_scanner.h"

namespace relay::message {

// What to do with a CR not followed by LF, or an LF not preceded by CR, in the content.
enum class BareLineEndings {
    reject,     // the message is refused (554 5.6.0) once the data is complete
    normalize,  // each bare CR, bare LF is stored as CRLF
};

struct PassLimits {
    std::uint64_t message_bytes_max = 0;        // 0: no limit. Counts the stored bytes.
    std::size_t header_bytes_max = 256 * 1024;  // the header block kept for inspection
    BareLineEndings bare_line_endings = BareLineEndings::reject;
    bool require_valid_utf8 = true;  // 8-bit content must be well-formed UTF-8
    // Longest line as stored, CRLF excluded (RFC 5322 §2.1.1); 0: no limit. Header and body lines
    // alike; in normalize mode the lines after normalisation.
    std::uint32_t line_bytes_max = 998;
    // Refuse declared charsets other than UTF-8 / US-ASCII (mime_scanner.h), with MIME parts
    // nested at most mime_depth_max deep.
    bool require_utf8_charsets = true;
    std::uint32_t mime_depth_max = 20;
};

// Receives the stored bytes of the message, in order, in as many calls as it takes.
class Sink {
  public:
    virtual void append(std::string_view bytes) = 0;

  protected:
    ~Sink() = default;
};

// Receives the body bytes (everything after the empty line ending the header block), exactly as
// stored. The DKIM part implements this to hash the canonical body in the same pass.
class BodyObserver {
  public:
    virtual void body(std::string_view bytes) = 0;

  protected:
    ~BodyObserver() = default;
};

// Why a message is refused. The session maps each to one SMTP reply (see docs/smtp-replies.md).
enum class Verdict {
    accepted,
    bare_line_ending,        // 554 5.6.0 (reject mode only)
    invalid_utf8,            // 554 5.6.0
    too_large,               // 552 5.3.4
    header_too_large,        // 552 5.3.4 (header block longer than header_bytes_max)
    nul_octet,               // 554 5.6.0 (a NUL anywhere in the content)
    line_too_long,           // 554 5.6.0 (a line longer than line_bytes_max)
    charset,                 // 554 5.6.0 (a declared charset other than UTF-8 / US-ASCII)
    mime_too_deep,           // 554 5.6.0 (MIME parts nested deeper than mime_depth_max)
    mime_boundary_too_long,  // 554 5.6.0 (a multipart boundary over kBoundaryBytesMax)
};

// One header field inside `HeaderBlock::bytes`.
struct HeaderField {
    std::uint32_t offset = 0;  // start of the field name
    // Length of the name (without the colon and any whitespace before it). 0 when the first line
    // of the field has no colon, starts with whitespace, or its name has bytes outside %d33-126
    // (RFC 5322 §2.2): such a line is indexed but matches no name.
    std::uint32_t name_bytes = 0;
    std::uint32_t field_bytes = 0;  // the whole field, including folded lines and the final CRLF
};

// The header block as stored (CRLF line endings), up to and including the empty line.
struct HeaderBlock {
    std::string bytes;
    std::vector<HeaderField> fields;
    bool complete = false;  // the empty line was seen (a message may be headers only)

    // The value of `fields[index]` as stored: after the colon, without the leading whitespace
    // (folding included) and without the final CRLF; folded lines keep their inner CRLFs. Empty
    // if `index` is out of range or the field has no well-formed name (name_bytes == 0).
    std::string_view raw_field(std::size_t index) const;
    // The same value unfolded (RFC 5322 §2.2.3: each CRLF before whitespace removed). Allocates;
    // meant for the few fields policy reads once per message.
    std::string unfolded_field(std::size_t index) const;
    // The first field with this name (case-insensitive ASCII); nullptr if absent.
    const HeaderField* find(std::string_view name) const;
};

struct Outcome {
    Verdict verdict = Verdict::accepted;  // the first refusal; later problems do not replace it
    std::uint64_t stored_bytes = 0;       // bytes handed to the sink (unstuffed, normalised)
    bool has_8bit = false;                // any octet >= 0x80
    std::uint64_t bare_line_endings = 0;  // how many were seen (normalised or not)
    std::uint64_t long_line_number = 0;   // line_too_long: the line (from 1) that was too long
    std::string charset;                  // charset: the charset refused (printable ASCII)
    // charset, mime_*: where ("part 2", "the Subject header of part 1.2"); invalid_utf8: where
    // the first ill-formed octet is ("the body of part 2"), when the charset scan runs.
    std::string where;
};

class MessagePass {
  public:
    explicit MessagePass(const PassLimits& limits);

    // Starts a new message. `dot_stuffed`: DATA framing; otherwise BDAT chunks.
    void start(bool dot_stuffed);

    // DATA: consumes received bytes. The bytes may be modified (the pass may unstuff in place).
    // Returns how many bytes belong to the message, including the final CRLF.CRLF when it is
    // found; `finished` then reports that the data is complete and the rest of `bytes` is the
    // next command(s) (pipelining).
    struct Fed {
        std::size_t consumed = 0;
        bool finished = false;
    };
    Fed feed_dot_stuffed(std::span<char> bytes, Sink& sink, BodyObserver* observer);

    // BDAT: consumes exactly the bytes of a chunk (the session counts the chunk size).
    void feed_chunk(std::span<char> bytes, Sink& sink, BodyObserver* observer);
    // BDAT LAST: the message is complete.
    void finish_chunks(Sink& sink, BodyObserver* observer);

    // The result so far; final once `finished` (DATA) or after finish_chunks (BDAT). Bytes after
    // a refusal keep being consumed (to find the end) but no longer reach the sink: the sink has
    // then received exactly the stored bytes before the offending one (the first byte over a
    // limit, the octet that makes the UTF-8 ill-formed, the place of the bare CR/LF, the NUL,
    // the first octet of a line past line_bytes_max), whatever the buffer boundaries were.
    // `has_8bit` and `bare_line_endings` cover the whole message.
    const Outcome& outcome() const { return outcome_; }
    const HeaderBlock& headers() const { return headers_; }
    // Input bytes at the end of the last buffer that the pass holds back until the next byte
    // tells what they are (a CR; a '.' at a line start; '.' CR): they were not handed to the
    // sink. A caller that receives the next bytes in place, right after the stored ones, must
    // leave these where they are.
    std::size_t held_input_bytes() const {
        switch (framing_) {
            case Framing::cr:
            case Framing::dot:
                return 1;
            case Framing::dot_cr:
                return 2;
            case Framing::text:
            case Framing::line_start:
                return 0;
        }
        return 0;
    }

  private:
    // Where the DATA framing stands between two buffers. The bytes named in a state are held
    // (not yet stored) until the next byte tells what they are.
    enum class Framing : std::uint8_t {
        text,        // inside a line
        line_start,  // after CRLF: a "." here is either stuffing or the terminator
        dot,         // "." at a line start seen (never stored)
        dot_cr,      // "." CR at a line start seen; LF next ends the data
        cr,          // CR held: CRLF, or a bare CR
    };

    const char* scan_text(const char* position, const char* end, const char*& run);
    const char* resume(const char* position, const char* end, const char*& run);
    void bare_cr(const char* cr, const char*& run);
    void bare_lf(const char* lf, const char*& run);
    void nul_octet(const char* nul, const char*& run);
    // Once per line: inline (defined in message_pass.cc, the only place that calls them).
    inline void check_line(const char* at, const char*& run);
    inline void end_line(const char* next_line);
    void line_too_long(const char* at, const char*& run);
    void held_cr_was_bare();
    void finish_message();

    void store(const char* data, std::size_t size);
    void store(const char* begin, const char* end) {
        store(begin, static_cast<std::size_t>(end - begin));
    }
    void refuse(Verdict verdict);
    void refuse_mime();
    void note_8bit(const char* data, std::size_t size);
    std::size_t valid_utf8_prefix(const char* data, std::size_t size);
    struct HeaderTake {
        std::size_t bytes = 0;  // how many of the given bytes belong to the header block
        bool too_large = false;
    };
    HeaderTake take_header(const char* data, std::size_t size);
    bool end_header_line();
    void index_header_line(std::uint32_t begin, std::uint32_t end);

    PassLimits limits_;
    Outcome outcome_;
    MimeScanner scanner_;
    HeaderBlock headers_;
    bool dot_stuffed_ = true;
    bool finished_ = false;
    Framing framing_ = Framing::line_start;
    bool header_done_ = false;              // the empty line seen, or the header block abandoned
    std::uint32_t header_line_offset_ = 0;  // start of the current line in headers_.bytes
    std::uint64_t utf8_state_ = 0;          // shift-encoded DFA state, 0 between characters
    // Line length, counted by the framing layer where it finds each line end. Octets of the
    // current stored line are counted up to line_begin_ in line_bytes_; those from line_begin_ on
    // are counted when the line ends, or the buffer does.
    std::uint64_t line_bytes_limit_ = 0;  // line_bytes_max, or the largest value for no limit
    std::uint64_t line_bytes_ = 0;
    std::uint64_t lines_ended_ = 0;
    const char* line_begin_ = nullptr;  // inside the buffer of the current feed call
    Sink* sink_ = nullptr;              // set for the duration of one feed call
    BodyObserver* observer_ = nullptr;
};

}  // namespace relay::message
