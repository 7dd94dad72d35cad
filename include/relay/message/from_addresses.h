// from_addresses.h -- the domains of the mailboxes in a message's From: field, for sender
// authorization (every domain must belong to the authenticated resource).
//
// Untrusted bytes: the header block is what the client sent. Pure: bytes in, a closed result
// out; no I/O, no logging. Any thread. Work is linear in the field's length (one pass, no
// backtracking, no recursion); the only allocations are the returned domains.
//
// Standards: RFC 5322 §3.4 (mailbox-list, name-addr, angle-addr, addr-spec), §3.2.2 (CFWS,
// nested comments, quoted-pairs), §3.2.4 (quoted strings), §3.6 (exactly one From field),
// §4.4 (obs-phrase, obs-local-part, obs-route, obs-mbox-list); RFC 6532 §3.2 (UTF-8 in atoms,
// quoted strings and comments); RFC 2047 §5 (encoded-words never inside an addr-spec).
//
// What is returned: one domain per mailbox, in order, not deduplicated; ASCII letters lower-cased,
// a final dot removed. Internationalised domains come back as written (A-label or UTF-8 U-label):
// the caller compares them after IDNA mapping, which is not done here. A domain literal comes
// back with its brackets ("[192.0.2.1]"), so that it never equals a domain name.
//
// Conservative choices: whatever two mail parsers could read differently (the ambiguities of
// "Composition Kills", Chen et al., USENIX Security 2020) is refused, never guessed:
//   * no From field, or more than one (a line that starts with whitespace and reads "From:"
//     counts as one: some parsers take it for a field of its own);
//   * group syntax ("undisclosed-recipients:;", "team: a@x;"): RFC 5322 allows only a
//     mailbox-list in From, and a group names no sender;
//   * an unquoted special in a display name ("a@good.example <evil@bad.example>"), two angle
//     addresses in one mailbox, anything after the angle address other than CFWS;
//   * whitespace or a comment inside an addr-spec ("a @ x", "a@x . y", "a@goo\r\n d.example"):
//     obsolete, and a parser that unfolds by dropping the CRLF with the space reads another domain;
//   * '<', '>' or '@' in a comment, and '<' or '>' in a quoted display name ("Alice <e@bad>"
//     in quotes): a lax parser that searches for '<' or '@' takes the wrong address;
//   * a quoted local part holding a special ("<x@y>"@good.example), an encoded-word in an
//     addr-spec;
//   * a domain with an octet other than letters, digits, '-', '.' and UTF-8 (so "=?q?a@b?=" is no
//     address: its "domain" b?= is refused);
//   * a domain literal with more than an address literal's letters, digits, '.', ':' and '-'
//     (RFC 5322's dtext admits '"', '@', '(' and '<': "[1.2.\"x\"@bad.example]");
//   * NUL, bare CR or LF, other control octets, ill-formed UTF-8, an unclosed quote, comment,
//     angle bracket or literal.
// Accepted: display names of atoms, quoted strings (with quoted-pairs and '@'), encoded-words
// (never decoded: what they decode to is a display name), obs-phrase dots ("John Q. Public");
// comments (nested, with quoted-pairs) wherever CFWS may stand outside an addr-spec; folding
// (CRLF followed by space or tab); source routes (<@a,@b:x@y>: the domain is y's); empty list
// elements (", a@x ,"); domain literals; a trailing dot on a domain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relay/message/message_pass.h"

namespace relay::message {

// Why the From field cannot authorize the sender. The session answers each with 550 5.7.1.
enum class FromRefusal : std::uint8_t {
    missing,     // no From field (RFC 5322 §3.6 requires one)
    duplicate,   // more than one From field, or a line that some parsers read as one
    unparsable,  // not a mailbox-list, or one that parsers could read differently
    no_domain,   // a mailbox without a domain ("alice", "<>")
    too_many,    // more mailboxes than the caller's bound
};

struct FromDomains {
    std::vector<std::string> domains;  // one per mailbox, in order; never empty
};

using FromAddresses = std::variant<FromDomains, FromRefusal>;

// The caller's bound on mailboxes in one From field: legitimate mail has one, rarely a few.
inline constexpr std::size_t from_mailboxes_max_default = 100;

// Parses one From field value: the bytes after the colon, folding (CRLF + WSP) included, without
// the final CRLF (HeaderBlock::raw_field gives exactly that). `mailboxes_max` >= 1.
FromAddresses parse_from_value(std::string_view value, std::size_t mailboxes_max);

// Finds the From field of a header block (exactly one, RFC 5322 §3.6) and parses it.
FromAddresses from_addresses(const HeaderBlock& headers, std::size_t mailboxes_max);

// A short lower-case name for logs and statistics ("missing", "duplicate", ...).
std::string_view from_refusal_name(FromRefusal refusal);

}  // namespace relay::message
