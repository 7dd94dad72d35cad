// names.h -- what a DKIM domain (d=) or selector (s=) may contain here.
//
// Thread: any (pure).
#pragma once

#include <algorithm>
#include <string_view>

namespace relay::dkim::internal {

// Letters, digits, '-', '.' and '_' only: a domain in A-label form or a selector (RFC 6376
// §3.1, §3.5), so that no value can carry ';', whitespace or a line end into the signature
// field or the DNS record.
inline bool is_dns_text(std::string_view text) {
    if (text.empty() || text.size() > 253) {
        return false;
    }
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_';
    });
}

}  // namespace relay::dkim::internal
