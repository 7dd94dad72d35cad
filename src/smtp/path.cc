// path.cc -- the reverse-path and forward-path grammar of MAIL FROM and RCPT TO.
//
// Implements RFC 5321 §4.1.2 (Path, A-d-l, Mailbox, Dot-string, Quoted-string, Domain,
// address-literal), §4.1.3 (IPv4, IPv6 and General address literals), §4.5.3.1 (the 64/255/256
// octet limits) and RFC 6531 §3.3 (UTF-8 in local parts and domain labels).
//
// Untrusted bytes, straight from the client's command line. Pure, any thread. It must never
// allocate, recurse or read outside `text`: every loop moves forward over the input once, and
// every view it returns is a piece of `text`.
#include <cstdint>
#include <string_view>
#include <variant>

#include "chars.h"
#include "relay/base/ascii.h"
#include "relay/smtp/command.h"

namespace relay::smtp {
namespace {

using namespace internal;
namespace replies = parser_replies;

// The replies of one role: sender (MAIL FROM) or recipient (RCPT TO).
struct RoleReplies {
    SyntaxReply syntax;
    SyntaxReply local_part_too_long;
    SyntaxReply domain_too_long;
    SyntaxReply path_too_long;
    SyntaxReply utf8;
};

constexpr RoleReplies sender_replies{replies::sender_syntax, replies::sender_local_part_too_long,
                                     replies::sender_domain_too_long, replies::sender_too_long,
                                     replies::sender_utf8};
constexpr RoleReplies recipient_replies{
    replies::recipient_syntax, replies::recipient_local_part_too_long,
    replies::recipient_domain_too_long, replies::recipient_too_long, replies::recipient_utf8};

// DNS: a label is at most 63 octets (RFC 1035 §2.3.4). Applied to ASCII labels only: a U-label
// may be longer in octets than its A-label.
constexpr std::size_t label_bytes_max = 63;

// sub-domain = Let-dig [Ldh-str], with UTF-8 octets counted as letters (RFC 6531 U-label).
bool is_label(std::string_view label) {
    if (label.empty()) {
        return false;
    }
    const std::uint16_t letter = char_alpha | char_digit | char_high;
    if (!is(label.front(), letter) || !is(label.back(), letter)) {
        return false;
    }
    bool ascii = true;
    for (const char c : label) {
        if (!is(c, letter) && c != '-') {
            return false;
        }
        ascii = ascii && !is(c, char_high);
    }
    return !ascii || label.size() <= label_bytes_max;
}

// Domain = sub-domain *("." sub-domain). No trailing dot: that is DNS notation, not SMTP.
bool is_domain_name(std::string_view domain) {
    while (true) {
        const std::size_t dot = domain.find('.');
        if (!is_label(domain.substr(0, dot))) {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        domain.remove_prefix(dot + 1);
    }
}

// IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT, 0..255.
bool is_ipv4(std::string_view text) {
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (text.empty() || text.front() != '.') {
                return false;
            }
            text.remove_prefix(1);
        }
        int value = 0;
        std::size_t digits = 0;
        while (digits < text.size() && digits < 3 && is_digit(text[digits])) {
            value = value * 10 + (text[digits] - '0');
            ++digits;
        }
        if (digits == 0 || value > 255) {
            return false;
        }
        text.remove_prefix(digits);
    }
    return text.empty();
}

// Consumes IPv6-hex = 1*4HEXDIG; false if there is none.
bool take_hex_group(std::string_view& text) {
    std::size_t digits = 0;
    while (digits < text.size() && digits < 4 && is(text[digits], char_hex)) {
        ++digits;
    }
    text.remove_prefix(digits);
    return digits > 0;
}

// IPv6-addr (RFC 5321 §4.1.3): IPv6-full (8 groups), IPv6-comp ("::" and at most 6 groups),
// IPv6v4-full (6 groups and an IPv4 address), IPv6v4-comp ("::", at most 4 groups, IPv4).
bool is_ipv6(std::string_view text) {
    int groups = 0;
    bool compressed = false;
    bool ipv4_tail = false;
    if (text.starts_with("::")) {
        compressed = true;
        text.remove_prefix(2);
    }
    // Each round takes one group and its separator; 8 groups and "::" are at most 40 octets of
    // input, so a longer text fails on the group count long before the loop could run away.
    while (!text.empty() && groups <= 8) {
        const std::size_t colon = text.find(':');
        if (text.substr(0, colon).find('.') != std::string_view::npos) {
            ipv4_tail = colon == std::string_view::npos && is_ipv4(text);
            if (!ipv4_tail) {
                return false;
            }
            break;
        }
        if (!take_hex_group(text)) {
            return false;
        }
        ++groups;
        if (text.empty()) {
            break;
        }
        if (text.front() != ':' || text.size() == 1) {
            return false;
        }
        text.remove_prefix(1);
        if (text.front() == ':') {
            if (compressed) {
                return false;
            }
            compressed = true;
            text.remove_prefix(1);
        }
    }
    const int hex_groups_max = ipv4_tail ? 6 : 8;
    return compressed ? groups <= hex_groups_max - 2 : groups == hex_groups_max;
}

// General-address-literal = Standardized-tag ":" 1*dcontent; Standardized-tag = Ldh-str.
bool is_general_literal(std::string_view tag, std::string_view content) {
    if (tag.empty() || !is_let_dig(tag.back()) || content.empty()) {
        return false;
    }
    for (const char c : tag) {
        if (!is_let_dig(c) && c != '-') {
            return false;
        }
    }
    for (const char c : content) {
        if (!is(c, char_dcontent)) {
            return false;
        }
    }
    return true;
}

// address-literal = "[" ( IPv4 / "IPv6:" IPv6-addr / General-address-literal ) "]"
bool is_address_literal(std::string_view literal) {
    if (literal.size() < 2 || literal.front() != '[' || literal.back() != ']') {
        return false;
    }
    const std::string_view inner = literal.substr(1, literal.size() - 2);
    const std::size_t colon = inner.find(':');
    if (colon == std::string_view::npos) {
        return is_ipv4(inner);
    }
    const std::string_view tag = inner.substr(0, colon);
    const std::string_view content = inner.substr(colon + 1);
    if (equal_ignoring_case(tag, "ipv6")) {
        return is_ipv6(content);
    }
    return is_general_literal(tag, content);
}

bool is_domain(std::string_view domain) {
    if (!domain.empty() && domain.front() == '[') {
        return is_address_literal(domain);
    }
    return is_domain_name(domain);
}

// Length of the local part at the start of `mailbox` (a Dot-string, or a Quoted-string with its
// quotes), or 0 if it does not start with one. UTF-8 octets count as atext and qtext (RFC 6531
// §3.3); their well-formedness is checked on the whole path beforehand.
std::size_t local_part_length(std::string_view mailbox) {
    if (!mailbox.empty() && mailbox.front() == '"') {
        std::size_t index = 1;
        while (index < mailbox.size()) {
            const char c = mailbox[index];
            if (c == '"') {
                return index + 1;
            }
            if (c == '\\') {
                // quoted-pairSMTP = "\" %d32-126
                if (index + 1 >= mailbox.size()) {
                    return 0;
                }
                const auto escaped = static_cast<unsigned char>(mailbox[index + 1]);
                if (escaped < 32 || escaped > 126) {
                    return 0;
                }
                index += 2;
                continue;
            }
            if (!is(c, char_qtext | char_high)) {
                return 0;
            }
            ++index;
        }
        return 0;  // no closing quote
    }
    // Dot-string = Atom *("." Atom): no dot first, last, or twice in a row.
    std::size_t index = 0;
    while (true) {
        const std::size_t atom_start = index;
        while (index < mailbox.size() && is(mailbox[index], char_atext | char_high)) {
            ++index;
        }
        if (index == atom_start) {
            return 0;
        }
        if (index >= mailbox.size() || mailbox[index] != '.') {
            return index;
        }
        ++index;
    }
}

// A-d-l = At-domain *( "," At-domain ) ":" -- returns the length including the colon, or 0.
std::size_t source_route_length(std::string_view inner) {
    std::size_t index = 0;
    while (index < inner.size() && inner[index] == '@') {
        const std::size_t end = inner.find_first_of(",:", index + 1);
        if (end == std::string_view::npos || !is_domain(inner.substr(index + 1, end - index - 1))) {
            return 0;
        }
        if (inner[end] == ':') {
            return end + 1;
        }
        index = end + 1;
    }
    return 0;
}

std::variant<Path, SyntaxReply> parse_mailbox(std::string_view mailbox, const RoleReplies& role,
                                              bool allow_postmaster) {
    if (allow_postmaster && equal_ignoring_case(mailbox, "postmaster")) {
        // RFC 5321 §4.1.1.3: "<Postmaster>" must be accepted without a domain.
        return Path{mailbox, mailbox, {}, false};
    }
    const std::size_t local_length = local_part_length(mailbox);
    if (local_length == 0 || local_length >= mailbox.size() || mailbox[local_length] != '@') {
        return role.syntax;
    }
    Path path;
    path.mailbox = mailbox;
    path.local_part = mailbox.substr(0, local_length);
    path.domain = mailbox.substr(local_length + 1);
    if (path.local_part.size() > local_part_bytes_max) {
        return role.local_part_too_long;
    }
    if (!is_domain(path.domain)) {
        return role.syntax;
    }
    if (path.domain.size() > domain_bytes_max) {
        return role.domain_too_long;
    }
    return path;
}

}  // namespace

std::variant<Path, SyntaxReply> parse_path(std::string_view text, bool allow_null) {
    const RoleReplies& role = allow_null ? sender_replies : recipient_replies;
    std::string_view inner = text;
    std::size_t path_bytes = text.size() + 2;
    const bool bracketed = !text.empty() && text.front() == '<';
    if (bracketed) {
        if (text.size() < 2 || text.back() != '>') {
            return role.syntax;
        }
        inner = text.substr(1, text.size() - 2);
        path_bytes = text.size();
    }
    const bool inner_has_utf8 = has_high_octet(inner);
    if (inner_has_utf8 && !is_valid_utf8(inner)) {
        return role.utf8;
    }
    if (inner.empty()) {
        if (bracketed && allow_null) {
            return Path{};
        }
        return bracketed ? (allow_null ? role.syntax : replies::recipient_null) : role.syntax;
    }
    std::string_view mailbox = inner;
    if (mailbox.front() == '@') {
        const std::size_t route_length = source_route_length(mailbox);
        if (route_length == 0) {
            return role.syntax;
        }
        mailbox.remove_prefix(route_length);
    }
    const bool allow_postmaster = !allow_null && mailbox.size() == inner.size();
    auto result = parse_mailbox(mailbox, role, allow_postmaster);
    if (auto* path = std::get_if<Path>(&result)) {
        if (path_bytes > path_bytes_max) {
            return role.path_too_long;
        }
        // The source route may hold the only UTF-8: scan the mailbox again only then.
        path->has_utf8 =
            inner_has_utf8 && (mailbox.size() == inner.size() || has_high_octet(mailbox));
    }
    return result;
}

}  // namespace relay::smtp
