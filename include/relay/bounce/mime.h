// mime.h -- a bounded MIME walker: header fields, content types, transfer decodings and the
// parts of a whole message, for the bounce parser and any other reader of received mail.
//
// Untrusted bytes: whatever a remote server sent. Pure: bytes in, values out; no I/O, no
// logging, any thread. No recursion: nested multiparts are walked with an explicit stack, and
// every count (depth, parts, header fields) has a limit, so work and memory stay linear in the
// input whatever it holds. A malformed message is never an error: the walker returns what it
// could read and says whether a limit cut it short.
//
// Standards: RFC 5322 §2.2 (header fields, folding), RFC 2045 §5-6 (Content-Type,
// Content-Transfer-Encoding: base64, quoted-printable), RFC 2046 §5.1 (multipart, boundaries),
// RFC 2231 is not decoded (parameters come back as written, quotes removed).
//
// Lenient where real mail is: LF or CRLF line endings, a header block that ends at the first
// line that is no field (some bounces have no empty line), a multipart with no closing
// delimiter, a multipart with no delimiter at all (read as text/plain), bad base64 or
// quoted-printable octets skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/ascii.h"

namespace relay::bounce {

// One header field, its value unfolded (the line breaks of folding removed, the whitespace kept)
// and trimmed of the whitespace at both ends.
struct HeaderField {
    std::string name;
    std::string value;
};

struct HeaderFields {
    std::vector<HeaderField> fields;

    // The first field of that name (ASCII case-insensitive), or "" when there is none.
    std::string_view get(std::string_view name) const;
    bool has(std::string_view name) const;
};

// The header block at the start of `bytes` and where the body begins (just after the empty line,
// or at the first line that is neither a field nor a continuation). At most `fields_max` fields
// are kept; `truncated` says when more were dropped.
struct HeaderBlock {
    HeaderFields headers;
    std::size_t body_offset = 0;
    bool truncated = false;
};
HeaderBlock parse_header_block(std::string_view bytes, std::size_t fields_max);

// "type/subtype" of a Content-Type value, lower-cased; "" when the value names none.
std::string media_type_of(std::string_view content_type);

// The value of parameter `name` (case-insensitive) of a structured field such as Content-Type
// ("multipart/report; report-type=delivery-status; boundary=\"x\""), quotes and quoted-pairs
// removed; "" when absent.
std::string parameter_of(std::string_view field_value, std::string_view name);

// Transfer decodings (RFC 2045 §6.7, §6.8). Octets outside the alphabet are skipped; the output
// is never longer than the input.
std::string decode_base64(std::string_view encoded);
std::string decode_quoted_printable(std::string_view encoded);

// (ASCII case folding and comparisons: relay/base/ascii.h.)
// Position of `needle` in `haystack` ignoring ASCII case, or npos.
std::size_t find_ignoring_case(std::string_view haystack, std::string_view needle);

struct MimeLimits {
    std::size_t depth_max = 8;            // multipart nesting below the top-level message
    std::size_t parts_max = 64;           // parts in all, the top-level message counting as one
    std::size_t header_fields_max = 128;  // fields kept per part
};

// One part in depth-first order. A multipart keeps its headers and no body; a leaf keeps its body
// with the transfer encoding undone. A message/rfc822 part is a leaf: its body is the enclosed
// message, for a caller that wants its header block.
struct MimePart {
    HeaderFields headers;
    std::string media_type;  // lower-cased; "text/plain" when the part declares none
    std::string body;
    std::size_t depth = 0;  // 0 for the whole message
};

struct MimeTree {
    std::vector<MimePart> parts;  // parts[0] is the whole message
    bool truncated = false;       // a limit left something unread
};

MimeTree walk_mime(std::string_view message, const MimeLimits& limits = {});

}  // namespace relay::bounce
