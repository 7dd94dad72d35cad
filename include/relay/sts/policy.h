// policy.h -- MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, and which MX host
// names a policy allows.
//
// Pure: bytes in, results out; no sockets, files or clocks. The fetcher (sts/fetch.h) brings
// the bytes, the policy service (sts/policy_service.h) keeps the results, delivery applies them.
//
// Untrusted bytes: everything here comes from the internet (DNS answers, an HTTPS body). The
// parser is bounded: at most policy_bytes_max octets, policy_mx_max mx patterns, lines of at
// most policy_line_bytes_max octets; anything over is a syntax error, never an allocation.
// Fuzzed by fuzz/mta_sts_policy_fuzzer.cc.
// RFCs: RFC 8461 §3.1 (TXT record), §3.2 (policy), §4.1 (MX host validation).
// Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"

namespace relay::sts {

// RFC 8461 §3.2: a policy body is small; 64 KiB bounds a hostile server's answer.
inline constexpr std::size_t policy_bytes_max = 64 * 1024;
inline constexpr std::size_t policy_mx_max = 100;
inline constexpr std::size_t policy_line_bytes_max = 1024;
// RFC 8461 §3.2: "max_age ... up to a maximum of 31557600" (one year).
inline constexpr std::uint32_t policy_max_age_s_max = 31557600;
// RFC 8461 §3.1: id = 1*32(ALPHA / DIGIT).
inline constexpr std::size_t txt_id_chars_max = 32;

enum class Mode : std::uint8_t { none, testing, enforce };

std::string_view mode_name(Mode mode);

struct Policy {
    Mode mode = Mode::none;
    std::vector<std::string> mx;  // lower case, no trailing dot; "*.example.net" or a host
    std::uint32_t max_age_s = 0;
    bool operator==(const Policy&) const = default;
};

// The policy file (`text/plain`, "key: value" lines ended by CRLF or LF). Unknown keys are
// ignored (§3.2); for a key given twice the first counts, except `mx`, which accumulates.
// Errors (invalid_argument) name the field at fault: "version is missing", "mode \"x\" is not
// enforce, testing or none", "max_age is not a number of seconds up to 31557600", "no mx".
Result<Policy> parse_policy(std::string_view text);

// The `id` of the one TXT record at `_mta-sts.<domain>` that starts with "v=STSv1;" (§3.1).
// Records that do not start so are ignored; none, or more than one, or an invalid one (no id,
// an id that is not 1-32 letters and digits) mean the domain publishes no policy: nullopt.
std::optional<std::string> policy_id_from_txt(const std::vector<std::string>& records);

// §4.1: `pattern` is a host name (equal, case-insensitive, trailing dots ignored) or
// "*.suffix", which matches exactly one more label on the left: "*.example.net" matches
// "mx.example.net", not "example.net" nor "a.mx.example.net".
bool mx_pattern_matches(std::string_view pattern, std::string_view host);

// The policy as its file says it, one "key: value" line each (version, mode, every mx,
// max_age): RFC 8460 §4.4's "policy-string".
std::vector<std::string> policy_lines(const Policy& policy);

// Whether `host` matches one of the policy's mx patterns.
bool policy_allows_host(const Policy& policy, std::string_view host);

}  // namespace relay::sts
