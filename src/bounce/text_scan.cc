// text_scan.cc -- addresses, explanations and quoted fields in the free text of bounces (see
// text_scan.h).
//
// Untrusted bytes: any text of a received message. Any thread. The address scan looks left and
// right of each '@' over address octets only, so an octet is visited at most twice; the marker
// search is one case-insensitive pass per marker over a bounded prefix.
// Never: recurse, allocate per octet, read outside the text.
#include "text_scan.h"

#include <array>

#include "relay/base/ascii.h"
#include "relay/bounce/mime.h"

namespace relay::bounce::internal {
namespace {

// Only this much of a text is searched for markers of the returned message.
constexpr std::size_t explanation_bytes_max = 64 * 1024;
constexpr std::size_t local_part_bytes_max = 64;  // RFC 5321 §4.5.3.1.1
constexpr std::size_t domain_bytes_max = 255;     // RFC 5321 §4.5.3.1.2

bool is_alphanumeric(char octet) {
    return (octet >= '0' && octet <= '9') || (octet >= 'a' && octet <= 'z') ||
           (octet >= 'A' && octet <= 'Z');
}

// atext of RFC 5322 §3.2.3 and the dots of a dot-atom.
bool is_local_octet(char octet) {
    if (is_alphanumeric(octet)) {
        return true;
    }
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~.";
    return specials.find(octet) != std::string_view::npos;
}

bool is_domain_octet(char octet) {
    return is_alphanumeric(octet) || octet == '-' || octet == '.';
}

// Lines that begin the returned message in plain-text bounces of common MTAs (lower case).
constexpr auto markers = std::to_array<std::string_view>({
    "--- below this line is a copy of the message",
    "------ this is a copy of the message",
    "----- original message follows",
    "original message follows",
    "----- original message -----",
    "----- unsent message follows",
    "--- the header of the original message is following",
    "original message headers",
    "------ original message header",
    "this is a copy of the headers",
    "the original message headers",
    "content-type: message/rfc822",
    "content-type: text/rfc822-headers",
    "--------------------------------- original message",
    "----- message header follows",
    "------- returned message",
    "----- returned message",
    "message headers follow",
    "\nreceived: from ",
    "\nreceived:from ",
    "\nreturn-path: <",
});

}  // namespace

std::vector<AddressMatch> find_addresses(std::string_view text, std::size_t count_max) {
    std::vector<AddressMatch> matches;
    std::size_t domain_end = 0;  // an '@' inside the previous address's domain starts nothing
    for (std::size_t at = text.find('@');
         at != std::string_view::npos && matches.size() < count_max; at = text.find('@', at + 1)) {
        if (at < domain_end) {
            continue;
        }
        std::size_t start = at;
        while (start > 0 && at - start < local_part_bytes_max && is_local_octet(text[start - 1])) {
            --start;
        }
        while (start < at && (text[start] == '.' || text[start] == '=' || text[start] == '\'')) {
            ++start;  // a sentence's dot or a quoted-printable leftover, not the local part
        }
        std::size_t end = at + 1;
        while (end < text.size() && end - at <= domain_bytes_max && is_domain_octet(text[end])) {
            ++end;
        }
        while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) {
            --end;
        }
        std::string_view domain = text.substr(at + 1, end - at - 1);
        if (start == at || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
            domain.find("..") != std::string_view::npos) {
            continue;
        }
        domain_end = end;
        matches.push_back(AddressMatch{start, text.substr(start, end - start)});
    }
    return matches;
}

std::string_view text_about(std::string_view text, std::string_view address) {
    constexpr std::size_t others_max = 64;
    std::size_t start = find_ignoring_case(text, address);
    if (address.empty() || start == std::string_view::npos) {
        return {};
    }
    std::string_view rest = text.substr(start);
    for (const AddressMatch& match : find_addresses(rest, others_max)) {
        if (match.position > 0 && !equal_ignoring_case(match.address, address)) {
            return rest.substr(0, match.position);
        }
    }
    return rest;
}

std::string first_address(std::string_view value) {
    std::vector<AddressMatch> matches = find_addresses(value, 1);
    return matches.empty() ? std::string() : std::string(matches.front().address);
}

std::string_view explanation_of(std::string_view text) {
    std::string_view searched = text.substr(0, explanation_bytes_max);
    std::size_t cut = searched.size();
    for (std::string_view marker : markers) {
        std::size_t found = find_ignoring_case(searched.substr(0, cut), marker);
        if (found != std::string_view::npos && found > 0) {
            cut = found;
        }
    }
    return searched.substr(0, cut);
}

std::string find_message_id_line(std::string_view text) {
    constexpr std::string_view field = "message-id:";
    std::size_t position = 0;
    while (position < text.size()) {
        std::size_t found = find_ignoring_case(text.substr(position), field);
        if (found == std::string_view::npos) {
            return {};
        }
        found += position;
        // The field starts a line, maybe after quoting ("> ") or indentation.
        std::size_t line_start = found;
        while (line_start > 0 && (text[line_start - 1] == ' ' || text[line_start - 1] == '\t' ||
                                  text[line_start - 1] == '>')) {
            --line_start;
        }
        position = found + field.size();
        if (line_start != 0 && text[line_start - 1] != '\n') {
            continue;
        }
        std::size_t end = text.find('\n', position);
        std::string_view value = text.substr(
            position, end == std::string_view::npos ? std::string_view::npos : end - position);
        std::size_t open = value.find('<');
        std::size_t close = value.find('>', open == std::string_view::npos ? 0 : open);
        if (open != std::string_view::npos && close != std::string_view::npos) {
            return std::string(value.substr(open, close - open + 1));
        }
    }
    return {};
}

std::string text_of_html(std::string_view html) {
    std::string text;
    text.reserve(html.size());
    bool in_tag = false;
    for (std::size_t index = 0; index < html.size(); ++index) {
        char octet = html[index];
        if (in_tag) {
            if (octet == '>') {
                in_tag = false;
            }
            continue;
        }
        if (octet == '<') {
            in_tag = true;
            std::string_view rest = html.substr(index + 1, 3);
            if (starts_with_ignoring_case(rest, "br") || starts_with_ignoring_case(rest, "p") ||
                starts_with_ignoring_case(rest, "/p") || starts_with_ignoring_case(rest, "div") ||
                starts_with_ignoring_case(rest, "tr") || starts_with_ignoring_case(rest, "/tr")) {
                text.push_back('\n');
            }
            continue;
        }
        if (octet == '&') {
            std::string_view rest = html.substr(index, 6);
            if (rest.starts_with("&lt;")) {
                text.push_back('<');
                index += 3;
                continue;
            }
            if (rest.starts_with("&gt;")) {
                text.push_back('>');
                index += 3;
                continue;
            }
            if (rest.starts_with("&amp;")) {
                text.push_back('&');
                index += 4;
                continue;
            }
            if (rest.starts_with("&nbsp;")) {
                text.push_back(' ');
                index += 5;
                continue;
            }
        }
        text.push_back(octet);
    }
    return text;
}

bool is_system_address(std::string_view address) {
    std::string_view local = address.substr(0, address.find('@'));
    constexpr auto system_local_parts = std::to_array<std::string_view>({
        "mailer-daemon",
        "postmaster",
        "mail-daemon",
        "mailerdaemon",
        "maildaemon",
        "root",
        "mail.delivery.subsystem",
    });
    for (std::string_view name : system_local_parts) {
        if (equal_ignoring_case(local, name)) {
            return true;
        }
    }
    return false;
}

bool contains_ignoring_case(const std::vector<std::string>& list, std::string_view item) {
    for (const std::string& entry : list) {
        if (equal_ignoring_case(entry, item)) {
            return true;
        }
    }
    return false;
}

}  // namespace relay::bounce::internal
