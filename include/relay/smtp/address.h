// address.h -- small helpers on mailbox strings as relay stores them ("local@domain").
//
// Pure. Domains compare case-insensitively (RFC 5321 §2.4); local parts keep their case.
#pragma once

#include <string>
#include <string_view>

namespace relay::smtp {

// The domain of `address` (after the last '@'), lower-cased; empty when there is none.
std::string domain_of(std::string_view address);

}  // namespace relay::smtp
