// stop_list.h -- what a stop-list entry is: an address or a whole domain that mail must not go
// to, in the global list or in one resource's, with why and until when.
//
// An address compares its domain case-insensitively (kept lower case) and its local part
// exactly (RFC 5321 §2.4: only the receiving host may fold it); `@example.net` stands for every
// address of that domain (not its subdomains). Domains are compared as ASCII: an entry for an
// IDN is written with its A-labels.
//
// Untrusted input: addresses come from the operator (relayctl, CSV files), from SMTP clients
// (RCPT) and later from bounces. Thread: any; pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::store {

enum class StopReason : std::uint8_t { hard_bounce, complaint, unsubscribe, manual };

std::string_view stop_reason_name(StopReason reason);
std::optional<StopReason> parse_stop_reason(std::string_view name);

// An entry's address split for its key: `local` empty for a whole-domain entry.
struct StopAddress {
    std::string domain;  // lower case
    std::string local;   // as written

    bool whole_domain() const { return local.empty(); }
    // "local@domain" or "@domain".
    std::string text() const { return local + "@" + domain; }
};

// An operator's ADDR or @DOMAIN, checked: a domain of at least two labels (check_domain), a local
// part of 1 to 64 octets without spaces, controls or '@' quoting games.
Result<StopAddress> parse_stop_address(std::string_view text);

// Whose list an entry is on: the global list (empty) or a resource's (PROJECT/NAME).
struct StopEntry {
    std::string scope;  // empty: global
    StopAddress address;
    StopReason reason = StopReason::manual;
    std::uint64_t added_s = 0;    // Unix seconds
    std::uint64_t expires_s = 0;  // Unix seconds; 0: never

    bool expired(std::uint64_t now_s) const { return expires_s != 0 && expires_s <= now_s; }
};

// What a lookup found; the first match in the order resource address, resource domain, global
// address, global domain.
struct StopMatch {
    bool global = false;
    bool whole_domain = false;
    StopReason reason = StopReason::manual;
    std::uint64_t added_s = 0;
    std::uint64_t expires_s = 0;
};

}  // namespace relay::store
