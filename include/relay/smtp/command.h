// command.h -- the SMTP command parser (RFC 5321 §4.1, RFC 6531 SMTPUTF8, RFC 3030 CHUNKING,
// RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3207 STARTTLS, RFC 4954 AUTH).
//
// Pure: one command line in, one `Command` out. Untrusted bytes: every input, however long or
// malformed, yields a value (a command, `Unknown` or `Invalid`), never a crash, never a read
// outside the line. The parser copies nothing: every string_view in a result points into the
// caller's line and is valid only as long as that line is.
//
// Line framing (CRLF, the length limit) is the session's job: `parse_command` gets one line
// without its terminator.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

namespace relay::smtp {

// RFC 5321 §4.5.3.1: sizes a receiver must accept at least; we refuse anything longer.
inline constexpr std::size_t local_part_bytes_max = 64;
inline constexpr std::size_t domain_bytes_max = 255;
inline constexpr std::size_t path_bytes_max = 256;  // including the angle brackets

// A reply the parser chose for a line it could not accept (always a 5xx). The strings are static.
struct SyntaxReply {
    int code;                   // 500, 501, 553, 555
    std::string_view enhanced;  // "5.5.2", "5.5.4", "5.1.3", "5.1.7", ...
    std::string_view text;      // one line, no CRLF
};

// A mailbox path as received, without the angle brackets and any source route.
struct Path {
    std::string_view mailbox;     // "local@domain"; empty for the null reverse-path "<>"
    std::string_view local_part;  // as received: a dot-string or a quoted-string (with quotes)
    std::string_view domain;      // a domain name or an address literal ("[192.0.2.1]")
    bool has_utf8 = false;        // any octet >= 0x80 (allowed only with SMTPUTF8)

    bool is_null() const { return mailbox.empty(); }
};

enum class BodyType { unspecified, seven_bit, eight_bit_mime, binary_mime };

struct MailParameters {
    std::optional<std::uint64_t> size;  // SIZE=n (RFC 1870)
    BodyType body = BodyType::unspecified;
    bool smtputf8 = false;              // SMTPUTF8 (RFC 6531)
    std::string_view auth;              // AUTH=<xtext> (RFC 4954 §5), empty if absent
};

struct Hello {
    std::string_view domain;  // the client's claimed name or address literal
    bool extended = false;    // EHLO rather than HELO
};
struct Mail {
    Path reverse_path;
    MailParameters parameters;
};
struct Rcpt {
    Path forward_path;  // "<Postmaster>" yields mailbox "Postmaster" and an empty domain
};
struct Data {};
struct Bdat {
    std::uint64_t size = 0;
    bool last = false;
};
struct Rset {};
struct Noop {};
struct Quit {};
struct Vrfy {
    std::string_view argument;
};
struct Expn {
    std::string_view argument;
};
struct Help {
    std::string_view topic;
};
struct StartTls {};
struct Auth {
    std::string_view mechanism;         // upper-cased by the caller if needed; as received
    std::string_view initial_response;  // empty if absent; "=" means an empty response
};
// A verb we do not know. The session replies 500 5.5.2.
struct Unknown {
    std::string_view verb;
};
// A known verb with arguments we cannot accept.
struct Invalid {
    SyntaxReply reply;
};

using Command = std::variant<Hello, Mail, Rcpt, Data, Bdat, Rset, Noop, Quit, Vrfy, Expn, Help,
                             StartTls, Auth, Unknown, Invalid>;

// Parses one command line (without CRLF). Verbs are case-insensitive. Tolerated deviations from
// RFC 5321, as other MTAs tolerate them: spaces after "FROM:"/"TO:", a path without angle
// brackets when it is the only argument, trailing spaces. A source route ("<@a,@b:u@d>") is
// accepted and dropped (RFC 5321 §4.1.2, Appendix C).
Command parse_command(std::string_view line);

// Parses a path as it appears after "FROM:" / "TO:" (with or without brackets, no parameters).
// Used by the parser and by tools that take addresses on their command line.
std::variant<Path, SyntaxReply> parse_path(std::string_view text, bool allow_null);

// True if `bytes` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

}  // namespace relay::smtp
