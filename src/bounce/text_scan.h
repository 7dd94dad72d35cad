// text_scan.h -- reading free text for the bounce parser: addresses, the part of a plain-text
// bounce that speaks before the returned message, quoted Message-ID fields, HTML to text.
//
// Untrusted bytes: any text of a received message. Pure, any thread, linear in the text's length
// (each octet is visited a bounded number of times); results are views into the given text or
// bounded copies. Private to the bounce part.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace relay::bounce::internal {

struct AddressMatch {
    std::size_t position = 0;  // where the address starts in the text
    std::string_view address;
};

// Mailbox addresses (local@domain.tld) in the order they occur, at most `count_max`. A domain
// needs a dot; quoted local parts and domain literals are not recognised.
std::vector<AddressMatch> find_addresses(std::string_view text, std::size_t count_max);

// The part of `text` about `address`: from its first mention to the mention of another address,
// or "" when the text does not name it.
std::string_view text_about(std::string_view text, std::string_view address);

// The first address of a header field value ("Name <a@b.example>", "rfc822; a@b.example"), or "".
std::string first_address(std::string_view value);

// The explanation of a plain-text bounce: the text up to the first marker of the returned message
// ("--- Below this line is a copy of the message.", a quoted "Received:" line...).
std::string_view explanation_of(std::string_view text);

// The value of the first "Message-ID:" line in quoted headers, angle brackets kept; "" if none.
std::string find_message_id_line(std::string_view text);

// Text of an HTML body: tags dropped, a few entities decoded, breaks kept as line breaks.
std::string text_of_html(std::string_view html);

// Whether `list` holds `item`, ASCII case aside (addresses already collected, header names).
bool contains_ignoring_case(const std::vector<std::string>& list, std::string_view item);

// Whether an address belongs to a mail system rather than a person (MAILER-DAEMON, postmaster).
bool is_system_address(std::string_view address);

}  // namespace relay::bounce::internal
