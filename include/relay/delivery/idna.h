// idna.h -- internationalised domain names for DNS (RFC 5890-5891, UTS #46 non-transitional).
//
// A recipient domain may arrive in UTF-8 (SMTPUTF8, RFC 6531). DNS needs its A-label form
// ("bücher.example" -> "xn--bcher-kva.example"); the SMTP envelope keeps the UTF-8 form. libidn2
// (Debian's libidn2-dev) does the conversion: the mapping and validity tables are not something
// to write by hand.
//
// Pure. Untrusted input (from recipient addresses).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay::delivery {

// The ASCII form of `domain` for a DNS query; ASCII domains come back unchanged (lower-cased).
// nullopt when the name is not a valid IDN (the recipient then fails: 5.1.2).
std::optional<std::string> domain_to_ascii(std::string_view domain);

}  // namespace relay::delivery
