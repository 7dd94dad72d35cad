// reply.h -- reads SMTP replies (RFC 5321 section 4.2) and EHLO keywords from received bytes.
//
// Untrusted bytes: yes, everything the server under test sends. Thread: the worker that owns the
// connection. Pure functions: bytes in, a result out; no allocation, no I/O.
// Must never: read past the given bytes, accept an unbounded line or an unbounded number of lines.
#pragma once

#include <cstddef>
#include <string_view>

namespace loadgen {

inline constexpr std::size_t reply_line_bytes_max = 2048;
inline constexpr std::size_t reply_lines_max = 128;

enum class ReplyStatus { complete, incomplete, malformed };

struct ParsedReply {
    ReplyStatus status = ReplyStatus::incomplete;
    std::size_t consumed_bytes = 0;  // the whole reply, final line ending included
    int code = 0;
    std::string_view last_line;  // the final line without its line ending, code included
};

// Parses the reply at the start of `input`. Lines end in CRLF (a bare LF is tolerated). Every line
// must start with the same three-digit code followed by '-' (more lines follow), ' ' or nothing.
ParsedReply parse_reply(std::string_view input);

struct EhloFeatures {
    bool pipelining = false;
    bool chunking = false;
    bool size = false;
    bool smtputf8 = false;
    bool eight_bit_mime = false;
};

// Reads the keywords of a complete EHLO reply (RFC 5321 section 4.1.1.1; the first line is the
// greeting and carries none).
EhloFeatures parse_ehlo(std::string_view reply);

// The queue id in a final reply: the token after "queued as" (Postfix, relayd), or empty.
std::string_view queue_id_of(std::string_view line);

}  // namespace loadgen
