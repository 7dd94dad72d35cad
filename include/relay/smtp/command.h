// command.h -- the SMTP command parser (RFC 5321 §4.1, RFC 6531 SMTPUTF8, RFC 3030 CHUNKING,
// RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3207 STARTTLS, RFC 4954 AUTH).
//
// Pure: one command line in, one `Command` out. Untrusted bytes: every input, however long or
// malformed, yields a value (a command, `Unknown` or `Invalid`), never a crash, never a read
// outside the line. The parser copies nothing: every string_view in a result points into the
// caller's line and is valid only as long as that line is. It never allocates, logs or blocks,
// so any thread may call it; the session calls it on its worker once per command line.
//
// Line framing (CRLF, the length limit) is the session's job: `parse_command` gets one line
// without its terminator.
#pragma once

#include <cstddef>
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

    bool operator==(const SyntaxReply&) const = default;
};

// Every reply the parser can produce, one constant each; `all` lists them for the docs. Enhanced
// codes are RFC 3463's: 5.5.2 command syntax, 5.5.4 invalid arguments, 5.1.7 bad sender address
// syntax, 5.1.3 bad recipient address syntax. 555 is RFC 5321's "MAIL FROM/RCPT TO parameters
// not recognized or not implemented". Texts are fixed: clients and tests may match on them.
namespace parser_replies {
// Not an `Invalid`: the session sends it for `Unknown` (including an empty line).
inline constexpr SyntaxReply unknown_command{500, "5.5.2", "Command unrecognized"};

// A known verb with missing, extra or malformed arguments.
inline constexpr SyntaxReply ehlo_syntax{501, "5.5.4", "Syntax: EHLO hostname"};
inline constexpr SyntaxReply helo_syntax{501, "5.5.4", "Syntax: HELO hostname"};
inline constexpr SyntaxReply mail_syntax{501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"};
inline constexpr SyntaxReply rcpt_syntax{501, "5.5.4", "Syntax: RCPT TO:<address>"};
inline constexpr SyntaxReply data_syntax{501, "5.5.4", "Syntax: DATA (no arguments)"};
inline constexpr SyntaxReply bdat_syntax{501, "5.5.4", "Syntax: BDAT size [LAST]"};
inline constexpr SyntaxReply rset_syntax{501, "5.5.4", "Syntax: RSET (no arguments)"};
inline constexpr SyntaxReply quit_syntax{501, "5.5.4", "Syntax: QUIT (no arguments)"};
inline constexpr SyntaxReply vrfy_syntax{501, "5.5.4", "Syntax: VRFY address"};
inline constexpr SyntaxReply expn_syntax{501, "5.5.4", "Syntax: EXPN mailing-list"};
inline constexpr SyntaxReply starttls_syntax{501, "5.5.4", "Syntax: STARTTLS (no arguments)"};
inline constexpr SyntaxReply auth_syntax{501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"};
// RFC 4954 §4: an initial response that is not base64 (nor "=").
inline constexpr SyntaxReply auth_base64{501, "5.5.2", "Cannot Base64-decode initial response"};

// MAIL FROM path (RFC 5321 §4.1.2, §4.5.3.1; RFC 6531 §3.3).
inline constexpr SyntaxReply sender_syntax{501, "5.1.7", "Bad sender address syntax"};
inline constexpr SyntaxReply sender_local_part_too_long{
    501, "5.1.7", "Sender address local part too long (64 octets max)"};
inline constexpr SyntaxReply sender_domain_too_long{
    501, "5.1.7", "Sender address domain too long (255 octets max)"};
inline constexpr SyntaxReply sender_too_long{501, "5.1.7",
                                             "Sender address too long (256 octets max)"};
inline constexpr SyntaxReply sender_utf8{553, "5.1.7", "Sender address is not valid UTF-8"};

// RCPT TO path.
inline constexpr SyntaxReply recipient_syntax{501, "5.1.3", "Bad recipient address syntax"};
inline constexpr SyntaxReply recipient_null{501, "5.1.3", "Null recipient address not allowed"};
inline constexpr SyntaxReply recipient_local_part_too_long{
    501, "5.1.3", "Recipient address local part too long (64 octets max)"};
inline constexpr SyntaxReply recipient_domain_too_long{
    501, "5.1.3", "Recipient address domain too long (255 octets max)"};
inline constexpr SyntaxReply recipient_too_long{501, "5.1.3",
                                                "Recipient address too long (256 octets max)"};
inline constexpr SyntaxReply recipient_utf8{553, "5.1.3", "Recipient address is not valid UTF-8"};

// ESMTP parameters (RFC 5321 §4.1.2 esmtp-param; RFC 1870, 6152, 3030, 6531, 4954).
inline constexpr SyntaxReply parameter_syntax{501, "5.5.4", "Bad parameter syntax"};
inline constexpr SyntaxReply parameter_unsupported{555, "5.5.4", "Unsupported parameter"};
inline constexpr SyntaxReply parameter_duplicate{501, "5.5.4", "Duplicate parameter"};
inline constexpr SyntaxReply size_value{501, "5.5.4", "Bad SIZE value"};
inline constexpr SyntaxReply body_value{501, "5.5.4",
                                        "Bad BODY value (7BIT, 8BITMIME or BINARYMIME)"};
inline constexpr SyntaxReply smtputf8_value{501, "5.5.4", "SMTPUTF8 takes no value"};
inline constexpr SyntaxReply auth_value{501, "5.5.4", "Bad AUTH value"};

inline constexpr SyntaxReply all[] = {
    unknown_command,
    ehlo_syntax,
    helo_syntax,
    mail_syntax,
    rcpt_syntax,
    data_syntax,
    bdat_syntax,
    rset_syntax,
    quit_syntax,
    vrfy_syntax,
    expn_syntax,
    starttls_syntax,
    auth_syntax,
    auth_base64,
    sender_syntax,
    sender_local_part_too_long,
    sender_domain_too_long,
    sender_too_long,
    sender_utf8,
    recipient_syntax,
    recipient_null,
    recipient_local_part_too_long,
    recipient_domain_too_long,
    recipient_too_long,
    recipient_utf8,
    parameter_syntax,
    parameter_unsupported,
    parameter_duplicate,
    size_value,
    body_value,
    smtputf8_value,
    auth_value,
};
}  // namespace parser_replies

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
    bool smtputf8 = false;  // SMTPUTF8 (RFC 6531)
    std::string_view auth;  // AUTH=<xtext> (RFC 4954 §5), empty if absent
};

struct Hello {
    std::string_view domain;  // the client's claimed name or address literal (the first word)
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
// RFC 5321, as other MTAs tolerate them: spaces (SP or HTAB) before the verb, runs of them
// between words, spaces after "FROM:"/"TO:", a path without angle brackets when it is the only
// argument, trailing spaces. A source route ("<@a,@b:u@d>") is accepted and dropped (RFC 5321
// §4.1.2, Appendix C).
//
// What each verb takes (anything else is `Invalid` with the reply named):
//   EHLO/HELO hostname     the first word, any printable ASCII or well-formed UTF-8 (clients send
//                          bare IPs and underscores; the session judges the name); words after
//                          it are ignored.                                       ehlo/helo_syntax
//   MAIL FROM:<path> [parameters]  SIZE=digits, BODY=7BIT|8BITMIME|BINARYMIME, SMTPUTF8,
//                          AUTH=xtext; others 555, a repeated one 501.      mail_syntax, sender_*
//   RCPT TO:<path>         "<Postmaster>" without a domain is accepted; "<>" is not; every
//                          parameter is unsupported (no DSN).           rcpt_syntax, recipient_*
//   DATA, RSET, QUIT, STARTTLS   no arguments.
//   BDAT size [LAST]       size: digits, fits 64 bits.                             bdat_syntax
//   NOOP [anything], HELP [topic], VRFY argument, EXPN argument.
//   AUTH mechanism [initial-response]   mechanism: RFC 4422 sasl-mech, either case; response:
//                          base64 or "=".                               auth_syntax, auth_base64
// Non-ASCII octets in a path must form well-formed UTF-8 (else 553); `Path::has_utf8` tells the
// session to insist on SMTPUTF8 (RFC 6531 §3.4, 553 5.6.7). U-labels are not checked against
// IDNA2008: only their octets' well-formedness and the LDH shape of the label.
Command parse_command(std::string_view line);

// Parses a path as it appears after "FROM:" / "TO:" (with or without brackets, no parameters,
// no surrounding spaces). Used by the parser and by tools that take addresses on their command
// line. `allow_null` selects the reverse-path rules of MAIL FROM (the null path "<>" is
// allowed, errors are the sender_* replies with 5.1.7); without it the forward-path rules of
// RCPT TO apply (a bare "Postmaster" is allowed, errors are the recipient_* replies with 5.1.3).
// Lengths: the local part as received (quotes included), the domain, and the whole path with
// its brackets (added when absent) and source route, against the limits above.
std::variant<Path, SyntaxReply> parse_path(std::string_view text, bool allow_null);

// True if `bytes` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

}  // namespace relay::smtp
