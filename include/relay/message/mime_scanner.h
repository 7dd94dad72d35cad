// mime_scanner.h -- the declared charsets of a message, checked as its bytes go by.
//
// The message pass feeds this scanner the stored bytes (CRLF lines) of a message in as many
// pieces as they arrive. It follows the MIME structure on the fly: the header block of the
// message and of every part (RFC 2045 §5 Content-Type with its parameters, folded fields, quoted
// and unquoted values, comments, RFC 2231 `name*=` / `name*0*=` forms), multipart boundaries
// (RFC 2046 §5.1, nested: a stack of boundaries of bounded depth), message/rfc822 and
// message/global parts (their embedded header block is scanned as well), and RFC 2047
// encoded-words (`=?charset?Q|B?...?=`, also `charset*lang`) in every header field of every
// part. A charset other than UTF-8 or US-ASCII (see `is_accepted_charset`), declared in a
// `charset` parameter, an RFC 2231 value or an encoded-word, refuses the message.
//
// Parts are numbered as IMAP does (RFC 3501 §6.4.5): the parts of a multipart message are 1, 2,
// ...; the parts of a multipart part 2 are 2.1, 2.2; the body of a message that is not
// multipart is part 1 (and the body of a message/rfc822 part 2 that is not multipart is 2.1).
//
// Pure: bytes in, a verdict out. Untrusted bytes: any input yields a verdict. Runs inside the
// message pass on the session's worker: no second pass and no copy of the body; state is the
// header field being read (at most field_bytes_max), the start of a line that may be a boundary
// (at most 2 + boundary_bytes_max + 2 octets) and the boundary stack (depth_max levels), all
// allocated once and reused. Body lines are skipped with memchr; no allocation per byte or line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relay::message {

struct MimeLimits {
    // Components of the deepest part number (1.2.3 is 3); deeper nesting is refused.
    std::uint32_t depth_max = 20;
    // One header field of a part, folded lines included (the message pass bounds the top-level
    // header block with header_bytes_max; this is the same bound for each field of a part).
    std::uint32_t field_bytes_max = 256 * 1024;
};

// RFC 2046 §5.1.1 allows 70; longer ones (up to this) are read, longer still refused.
inline constexpr std::size_t kBoundaryBytesMax = 200;

enum class MimeVerdict : std::uint8_t {
    accepted,
    charset,           // a charset other than UTF-8 / US-ASCII is declared somewhere
    too_deep,          // a part number with more than depth_max components
    field_too_large,   // a header field of a part longer than field_bytes_max
    boundary_too_long  // a multipart boundary longer than kBoundaryBytesMax
};

struct MimeRefusal {
    MimeVerdict verdict = MimeVerdict::accepted;
    std::string charset;  // charset: as declared (printable ASCII only, at most 64 octets)
    // Where, for the reply: "part 2", "the Subject header", "the Subject header of part 1.2".
    std::string where;
};

// True for UTF-8 and US-ASCII under their IANA names and aliases (case-insensitive): utf-8,
// utf8, csutf8; us-ascii, ascii, us, ansi_x3.4-1968, ansi_x3.4-1986, iso646-us, iso-ir-6,
// iso_646.irv:1991, ibm367, cp367, csascii.
bool is_accepted_charset(std::string_view charset);

class MimeScanner {
  public:
    explicit MimeScanner(const MimeLimits& limits);

    // Starts a new message (keeps the buffers' capacity).
    void start();

    struct Fed {
        std::size_t accepted = 0;  // bytes before the refusal (all of them if none)
        bool refused = false;      // this call refused the message
    };
    // The next stored bytes. After a refusal, further calls return {0, false} and change nothing.
    Fed feed(std::string_view bytes);
    // The message is complete: a header field still open is checked. True if that refuses it.
    bool finish();

    const MimeRefusal& refusal() const { return refusal_; }
    // Where the next byte would go, for other refusals (invalid UTF-8): "the header", "the header
    // of part 2", "the body", "the body of part 1.2". Allocates: call it once, when refusing.
    std::string location() const;

  private:
    enum class Mode : std::uint8_t { header, body };
    struct Level {
        std::uint32_t boundary_offset = 0;  // in boundaries_
        std::uint32_t boundary_bytes = 0;
        std::uint32_t path_depth = 0;  // the multipart entity's own part number: path_[0, depth)
        std::uint32_t children = 0;
        bool digest = false;  // multipart/digest: parts default to message/rfc822
    };

    std::size_t feed_header(const char* data, std::size_t size, std::size_t index);
    std::size_t feed_body(const char* data, std::size_t size, std::size_t index);
    bool end_field();
    bool end_header_line();
    bool end_header_block();
    bool end_candidate_line(std::string_view line, bool tail_blank);
    bool apply_boundary(std::size_t index, bool close);
    int match_boundary(std::string_view line, bool tail_blank, bool& close) const;
    bool open_part(std::size_t level_index);
    bool check_content_type(std::string_view value);
    bool check_parameters(std::string_view name, std::string_view value);
    bool check_encoded_words(std::string_view name, std::string_view value);
    bool refuse(MimeVerdict verdict, std::string_view charset, std::string where);
    std::string part_name(std::uint32_t depth, bool body_of_message) const;
    std::string header_where(std::string_view name) const;

    MimeLimits limits_;
    MimeRefusal refusal_;
    Mode mode_ = Mode::header;
    bool at_line_start_ = true;
    // Header mode: the field being read ([0, line_offset_) earlier lines, then the current one).
    std::string field_;
    std::size_t line_offset_ = 0;
    // Body mode: a line that starts with '-' is kept (bounded) until its end to compare it with
    // the boundaries; octets past the bound only need to be blank.
    bool in_candidate_ = false;
    bool candidate_tail_blank_ = true;
    std::string candidate_;
    // The entity whose header is being read, or whose body is being skipped.
    std::vector<std::uint32_t> path_;  // part number components; [0, entity_depth_) is its own
    std::uint32_t entity_depth_ = 0;
    bool entity_is_message_ = true;  // the top level, or the body of a message/rfc822 part
    bool entity_multipart_ = false;
    bool entity_digest_ = false;
    bool entity_message_ = false;  // its type is message/rfc822 or message/global
    bool entity_type_seen_ = false;
    bool default_message_ = false;  // no Content-Type means message/rfc822 (digest parts)
    std::string entity_boundary_;
    std::vector<Level> levels_;
    std::string boundaries_;
};

}  // namespace relay::message
