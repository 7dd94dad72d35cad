// tlsa_answer.h -- the parts of a raw DNS answer that DANE needs and c-ares 1.18 does not
// parse: the AD bit of the header and the TLSA records (type 52) of the answer section.
//
// Pure functions of the bytes; any thread. Untrusted bytes: the whole message, as it came from
// the resolver. Every length is checked against the message's end, compression pointers are
// skipped (never followed), at most tlsa_records_max records are kept. RFC 1035 §4.1 (message
// format), RFC 4035 §3.2.3 and RFC 6840 §5.7-5.8 (the AD bit), RFC 6698 §2.1 (TLSA RDATA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "relay/delivery/resolver_types.h"
#include "relay/tls/dane.h"

namespace relay::delivery {

inline constexpr std::uint16_t dns_type_tlsa = 52;
// A host with more TLSA records than this is unusual (two per key during a rollover is the
// common case); the rest of a larger answer is ignored.
inline constexpr std::size_t tlsa_records_max = 32;

// The header's AD bit: the resolver that answered validated the whole answer with DNSSEC.
// Meaningful only when that resolver is trusted and the path to it is (RFC 6698 §4.1). False
// for a message shorter than a header.
bool dns_answer_authenticated(std::span<const std::uint8_t> message);

// The TLSA records of the answer section (class IN, type 52, any owner: a CNAME chain in the
// answer leads to them), in answer order. nullopt when the message is malformed (truncated,
// a name or record running past the end, a TLSA RDATA shorter than its three fixed octets).
// An answer without TLSA records gives an empty list.
std::optional<std::vector<tls::TlsaRecord>> parse_tlsa_answer(
    std::span<const std::uint8_t> message);

// A TLSA lookup of `_PORT._tcp.HOST` (RFC 6698 §3), as the resolver reports it.
struct TlsaLookup {
    std::string host;  // the host name, as for AddressLookup
    std::uint16_t port = 25;
    DnsOutcome outcome = DnsOutcome::temporary_failure;
    std::string reason;  // one line, as for MxLookup
    // Every record, usable or not (tls::usable_tlsa_records picks); non-empty iff found.
    std::vector<tls::TlsaRecord> records;
    std::uint32_t ttl_s = 0;
    // The AD bit of the answer (records or denial); see MxLookup::authenticated.
    bool authenticated = false;
};

}  // namespace relay::delivery
