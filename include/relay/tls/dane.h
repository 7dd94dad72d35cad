// dane.h -- DANE for SMTP: does a server's certificate chain match its TLSA records?
//
// Pure: bytes in, a verdict out; any thread. Untrusted bytes: the certificate chain (what the
// server sent in its handshake, DER, leaf first) and the TLSA records (from DNS; only records
// from a DNSSEC-validated answer should reach here). Parsing is wolfSSL's X.509 code; hashing is
// wolfCrypt's. Never allocates more than a copy of the inputs; never blocks.
//
// RFC 7672 (SMTP security via opportunistic DANE TLS), RFC 6698 / RFC 7671 (TLSA, its usage):
//   * DANE-EE(3): a record matches the leaf certificate. Nothing else is checked: not the name,
//     not the dates, not the issuer (RFC 7672 §3.1.1).
//   * DANE-TA(2): a record matches a CA certificate the server sent above the leaf; the chain
//     from the leaf up to it must verify (signatures, CA flags, dates) and the leaf must be
//     issued for one of the reference names: the MX host name, which here is also the TLSA base
//     domain (no CNAME expansion; RFC 7672 §3.2.2). Wildcards as RFC 6125 allows them.
//   * PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672 §3.1.3), as are unknown
//     usages, selectors and matching types, and digests of the wrong length: such records are
//     ignored (RFC 7671 §4.1). A host whose records are all unusable gets TLS without
//     authentication (RFC 7672 §2.2), which is the caller's decision.
//   * Selectors: Cert(0), the whole certificate; SPKI(1), its SubjectPublicKeyInfo. Matching:
//     Full(0), SHA2-256(1), SHA2-512(2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace relay::tls {

enum class TlsaUsage : std::uint8_t { pkix_ta = 0, pkix_ee = 1, dane_ta = 2, dane_ee = 3 };
enum class TlsaSelector : std::uint8_t { certificate = 0, public_key = 1 };
enum class TlsaMatching : std::uint8_t { full = 0, sha256 = 1, sha512 = 2 };

// One TLSA record's RDATA (RFC 6698 §2.1), fields as published: values beyond the enums above
// are kept so that they can be recognised as unusable.
struct TlsaRecord {
    std::uint8_t usage = 0;
    std::uint8_t selector = 0;
    std::uint8_t matching = 0;
    std::vector<std::uint8_t> data;

    bool operator==(const TlsaRecord&) const = default;
};

// A full certificate or key in a TLSA record: bounded so that a hostile record cannot make
// the matcher compare megabytes (a TLSA RDATA is at most 65535 octets anyway).
inline constexpr std::size_t tlsa_full_data_bytes_max = 16384;
// Certificates of a chain looked at; a longer chain fails (no usable chain is that long).
inline constexpr std::size_t dane_chain_certificates_max = 10;

// DANE-TA(2) or DANE-EE(3), selector 0 or 1, matching 0..2 with data of the right length.
bool tlsa_record_usable(const TlsaRecord& record);
// The usable records of `records`, in order.
std::vector<TlsaRecord> usable_tlsa_records(std::span<const TlsaRecord> records);

// "3 1 1 2a3b...": how a record reads in a zone file (the data cut at 16 octets).
std::string tlsa_record_text(const TlsaRecord& record);

// "_25._tcp.mx.example.net. IN TLSA 3 1 1 1F850A...": the record as a zone file has it
// (RFC 6698 §2.2), all of its data in upper-case hex; RFC 8460 §4.4 reports it so.
std::string tlsa_record_presentation(const TlsaRecord& record, std::string_view host,
                                     std::uint16_t port);

struct DaneVerdict {
    bool matched = false;
    // Matched: which record and certificate, e.g. "DANE-EE(3) SPKI(1) SHA2-256(1) matched the
    // leaf" or "DANE-TA(2) Cert(0) SHA2-512(2) matched depth 2". Not matched: why, in one line,
    // e.g. "no TLSA record matches" or "DANE-TA(2) matched depth 1, but the certificate is not
    // issued for mx.example.net".
    std::string detail;
};

// Checks `chain` (DER certificates, leaf first) against `records` (unusable ones are skipped)
// for a server known by `reference_names` (normalised DNS names). The current time is the
// system's (for DANE-TA dates).
DaneVerdict dane_verify(std::span<const std::vector<std::uint8_t>> chain,
                        std::span<const TlsaRecord> records,
                        std::span<const std::string> reference_names);

}  // namespace relay::tls
