// verp.h -- the technical return path: bounces+TOKEN@BOUNCE-DOMAIN, and its decoder.
//
// Each recipient of a message gets its own envelope sender (one transaction per recipient, as
// Postfix's VERP), whose token says which message, resource and recipient a bounce is about and
// is authenticated with HMAC-SHA256, so that a forged or altered bounce address names nothing.
//
// What the token carries. A local part holds at most 64 octets (RFC 5321 §4.5.3.1.1); some
// MTAs lower-case it, so the token uses only lower-case letters and digits (RFC 4648 base32,
// decoded without regard to case). With "bounces+" that leaves 56 characters, 35 octets: not
// room for a recipient address (up to 254 octets) or a PROJECT/NAME username. So the token
// carries fixed-size fields, 30 octets, 48 characters, 56 octets of local part in all:
//
//   octet  0       version (1)
//   octets 1-8     queue id (spool::QueueId, big-endian): the message, and when it was accepted
//   octets 9-14    resource fingerprint: the first 48 bits of SHA-256 of "PROJECT/NAME"
//   octets 15-16   recipient index: the recipient's position in the message's envelope (from 0)
//   octets 17-21   recipient fingerprint: the first 40 bits of SHA-256 of the address in ASCII
//                  lower case
//   octets 22-29   tag: the first 64 bits of HMAC-SHA256(key, "relay-verp-1" || octets 0-21)
//
// The bounce handler finds the resource by comparing the fingerprint with those of the tenant
// list (it does not need the message, which may have left the spool long before a late bounce),
// and the recipient from the message's envelope while it is spooled, otherwise from the DSN's
// Final-Recipient checked against the fingerprint. The queue id gives the age of the message:
// the handler may ignore tokens older than it keeps state for. Several keys may be given to the
// decoder so that the HMAC key can be rotated without losing the bounces of messages in flight.
//
// Untrusted bytes: decode_verp reads addresses from mail that arrives from the internet; any
// input yields a token or an error. Thread: any (pure). Never: accept a token whose tag does not
// verify, or compare tags in time that depends on their content.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "relay/base/result.h"
#include "relay/spool/queue_id.h"

namespace relay::bounce {

inline constexpr std::string_view verp_prefix = "bounces+";
inline constexpr std::size_t verp_token_chars = 48;
inline constexpr std::size_t verp_key_bytes_min = 16;
inline constexpr std::uint32_t verp_recipient_index_max = 65535;

struct VerpMessage {
    spool::QueueId queue_id = 0;
    std::string_view resource;  // PROJECT/NAME
    std::uint32_t recipient_index = 0;
    std::string_view recipient;  // the envelope recipient address
};

// "bounces+TOKEN", 56 octets. Errors: a key shorter than verp_key_bytes_min, a recipient index
// above verp_recipient_index_max.
Result<std::string> verp_local_part(std::string_view key, const VerpMessage& message);
// "bounces+TOKEN@BOUNCE-DOMAIN".
Result<std::string> verp_address(std::string_view key, const VerpMessage& message,
                                 std::string_view bounce_domain);

struct VerpToken {
    spool::QueueId queue_id = 0;
    std::uint64_t resource_fingerprint = 0;  // 48 bits
    std::uint16_t recipient_index = 0;
    std::uint64_t recipient_fingerprint = 0;  // 40 bits
    std::size_t key_index = 0;                // which of the keys verified the tag
};

// Decodes an address ("bounces+TOKEN@domain", the domain not checked here) or a bare local part.
// The prefix and the token are read without regard to case. Errors (invalid_argument, the
// peer's): no prefix, a token of the wrong length or alphabet, an unknown version, a tag that
// no key verifies.
Result<VerpToken> decode_verp(std::span<const std::string_view> keys, std::string_view address);

std::uint64_t verp_resource_fingerprint(std::string_view resource);
std::uint64_t verp_recipient_fingerprint(std::string_view recipient);

}  // namespace relay::bounce
