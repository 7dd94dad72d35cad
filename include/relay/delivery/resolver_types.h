// resolver_types.h -- the values DNS lookups produce for delivery: IP addresses, MX records, and
// the outcome kinds that decide between "deliver", "fall back", "bounce" and "retry later".
//
// Pure values, no I/O; any thread. Untrusted bytes: `normalize_dns_name` and `IpAddress::parse`
// take names and literals that come from recipients' addresses and from DNS answers, and accept
// only what they can prove well formed (RFC 1035 §2.3.4 lengths, RFC 5321 §4.1.3 literals).
// Shared by the resolver (which fills them) and the MX planner (which reads them).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace relay::delivery {

// RFC 1035 §2.3.4, in presentation form without the trailing dot.
inline constexpr std::size_t dns_name_bytes_max = 253;
inline constexpr std::size_t dns_label_bytes_max = 63;

// Lower-cases `name` and strips one trailing dot. Returns nullopt unless every label is 1..63
// bytes of letters, digits, '-' or '_' and the whole is at most 253 bytes: anything else (spaces,
// control bytes, backslash escapes, non-ASCII names that need IDNA) cannot be sent to DNS as is.
// The root name "." is not a host name and is refused too.
std::optional<std::string> normalize_dns_name(std::string_view name);

// Renders an untrusted name for a log line or a DSN: bytes outside printable ASCII become '?',
// and more than dns_name_bytes_max bytes are cut and marked with "...".
std::string printable_dns_name(std::string_view name);

// A socket address ready for connect(2).
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// An IPv4 or IPv6 address, no port, no scope.
class IpAddress {
  public:
    enum class Family : std::uint8_t { ipv4, ipv6 };

    IpAddress() = default;  // 0.0.0.0

    static IpAddress ipv4(std::array<std::uint8_t, 4> bytes);
    static IpAddress ipv6(std::array<std::uint8_t, 16> bytes);
    // Dotted quad ("192.0.2.1") or RFC 4291 text ("2001:db8::1"); nullopt for anything else.
    static std::optional<IpAddress> parse(std::string_view text);

    Family family() const { return family_; }
    bool is_ipv4() const { return family_ == Family::ipv4; }
    // 4 or 16 bytes, network order.
    std::span<const std::uint8_t> bytes() const;
    std::string to_string() const;
    SocketAddress to_socket_address(std::uint16_t port) const;

    bool operator==(const IpAddress&) const = default;

  private:
    IpAddress(Family family, std::array<std::uint8_t, 16> bytes) : bytes_(bytes), family_(family) {}

    std::array<std::uint8_t, 16> bytes_{};
    Family family_ = Family::ipv4;
};

// What a lookup established. Delivery treats each kind differently:
//   found              use the records
//   no_data            the name exists but has no records of the type (NOERROR, empty answer);
//                      for MX: fall back to the domain's own A/AAAA (RFC 5321 §5.1 implicit MX)
//   no_domain          the name does not exist (NXDOMAIN), or is not a valid DNS name at all:
//                      a permanent failure
//   temporary_failure  SERVFAIL, REFUSED, timeout, unreachable server, out of memory: retry later
//   malformed_answer   the server answered but the answer could not be parsed: retry later
enum class DnsOutcome : std::uint8_t {
    found,
    no_data,
    no_domain,
    temporary_failure,
    malformed_answer,
};

// "found", "no_data", ... for logs and tests.
std::string_view outcome_name(DnsOutcome outcome);

struct MxRecord {
    std::uint16_t preference = 0;
    // Lower-case, no trailing dot; "." for the root (the null MX target of RFC 7505). A target
    // that is no valid host name is kept as printable_dns_name() renders it.
    std::string host;

    bool operator==(const MxRecord&) const = default;
};

struct MxLookup {
    std::string domain;  // as queried: normalised, or printable_dns_name() of an invalid name
    DnsOutcome outcome = DnsOutcome::temporary_failure;
    // One line for the log and the DSN ("DNS lookup of MX for example.com timed out").
    std::string reason;
    std::vector<MxRecord> records;  // answer order; non-empty iff outcome is found
    std::uint32_t ttl_s = 0;        // the smallest TTL of the answer's records; 0 unless found
    // The resolver set the AD bit (RFC 4035 §3.2.3): it validated the answer, records or
    // denial, with DNSSEC. Means something only from a trusted resolver (docs/delivery.md, DANE).
    bool authenticated = false;
};

// TXT records of a name (RFC 1035 §3.3.14), each record's strings joined (RFC 7208 §3.3 and
// RFC 8461 §3.1 read a record so). Bounded by the answer size (<= 64 KiB).
struct TxtLookup {
    std::string name;  // as queried, normalised
    DnsOutcome outcome = DnsOutcome::temporary_failure;
    std::string reason;                // one line for the log
    std::vector<std::string> records;  // answer order; non-empty iff outcome is found
};

enum class AddressFamilies : std::uint8_t { ipv4, ipv6, both };

struct AddressLookup {
    // As queried, normalised; a name that normalize_dns_name refuses is kept exactly as given,
    // so that the caller can still match the result to its request.
    std::string host;
    DnsOutcome outcome = DnsOutcome::temporary_failure;
    std::string reason;  // one line, as for MxLookup
    // IPv4 first, then IPv6, each in answer order; non-empty iff outcome is found. With `both`,
    // a lookup is found as soon as one family has addresses, even if the other failed (the
    // reason then says so).
    std::vector<IpAddress> addresses;
    std::uint32_t ttl_s = 0;  // the smallest TTL of the records kept; 0 unless found
    // Every answer that gave addresses came with the AD bit (see MxLookup::authenticated).
    bool authenticated = false;
};

}  // namespace relay::delivery
