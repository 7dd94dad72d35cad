// tenant_names.h -- the syntax of project and resource names, SMTP usernames and sender domains.
//
// Untrusted input: names come from the operator's command line and, for usernames, from SMTP
// clients. Each check returns the canonical (lower-case) form or an error that says what a
// valid name looks like.
//
// Thread: any; pure.
#pragma once

#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::store {

inline constexpr std::size_t name_bytes_max = 63;

struct Username {
    std::string project;
    std::string name;
};

// Project or resource name: 1 to 63 of a-z 0-9 . _ -, starting with a letter or digit.
Result<std::string> check_name(std::string_view kind, std::string_view name);
// "PROJECT/NAME", both parts valid names.
Result<Username> parse_username(std::string_view username);
// A sender domain in ASCII (A-labels for international names), at least two labels; lower-cased.
Result<std::string> check_domain(std::string_view domain);
// A resource's return path: LOCAL@DOMAIN, the local part 1 to 64 octets of printable ASCII
// without space, angle brackets, quotes or '@' (a dot-atom, RFC 5321 §4.1.2, as a sender's
// MAIL FROM carries it), the domain as check_domain, 254 octets at most; the domain
// lower-cased, the local part kept as given. The domain need not be one of the resource's.
Result<std::string> check_return_path(std::string_view address);
// A DKIM selector (RFC 6376 §3.1): dot-separated labels of a-z 0-9 - _, at most 63 octets each
// and 253 in all; lower-cased, as DNS compares names without case.
Result<std::string> check_dkim_selector(std::string_view selector);

}  // namespace relay::store
