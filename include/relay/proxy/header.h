// header.h -- the PROXY protocol header a load balancer puts in front of a client's bytes.
//
// A balancer in TCP mode (HAProxy's `send-proxy`, `send-proxy-v2`) opens its own connection to
// relayd, so the socket's peer is the balancer. Before the client's first byte it writes one
// header naming the client's address and port: version 1 is a line of text, version 2 a binary
// block. This parser reads either from the start of a connection's input.
//
//   v1: "PROXY TCP4 203.0.113.7 192.0.2.1 51234 25\r\n" (or TCP6, or "PROXY UNKNOWN...\r\n"),
//       at most 107 octets with the CRLF.
//   v2: the 12-octet signature "\r\n\r\n\0\r\nQUIT\n", version and command (0x20 LOCAL, 0x21
//       PROXY), family and transport (0x11 TCP over IPv4, 0x21 TCP over IPv6, 0x00 UNSPEC), a
//       big-endian length of what follows: the addresses (4+4+2+2 or 16+16+2+2 octets) and then
//       type-length-value extensions, which are walked (each must fit) and otherwise skipped.
//
// LOCAL (the balancer's own health check), v1 UNKNOWN and v2 UNSPEC carry no client: the
// connection's own peer address stands (the specification says so). Datagram and UNIX-socket
// families are refused: an SMTP client is a TCP peer.
//
// Untrusted bytes: the whole input, from the network; any input yields one of the three
// outcomes, never reads past the view, allocates nothing. Thread: any (pure).
// Standard: "The PROXY protocol", versions 1 and 2 (doc/proxy-protocol.txt in HAProxy's sources).
// Never: take a header longer than the caller's bound, or guess at a header cut short (a
// partial header is "need more", a wrong one an error, not a truncated success).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

namespace relay::proxy {

// Version 1's longest line (TCP6 with both addresses and ports at their longest), CRLF included.
inline constexpr std::size_t v1_header_bytes_max = 107;
// Version 2's fixed part: signature, version and command, family, length.
inline constexpr std::size_t v2_fixed_bytes = 16;
inline constexpr std::string_view v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};
// The smallest bound a caller may pass: a v1 line of any length, a v2 header with IPv6
// addresses and some extensions.
inline constexpr std::size_t header_bytes_max_min = 232;

enum class Family : std::uint8_t { ipv4, ipv6 };

struct Endpoint {
    Family family = Family::ipv4;
    std::array<std::uint8_t, 16> address{};  // network byte order; IPv4 in the first 4 octets
    std::uint16_t port = 0;
    bool operator==(const Endpoint&) const = default;
};

// The connection as the balancer received it.
struct Endpoints {
    Endpoint source;       // the client
    Endpoint destination;  // the address the client connected to (the balancer's frontend)
    bool operator==(const Endpoints&) const = default;
};

struct Header {
    int version = 0;                     // 1 or 2
    std::size_t length = 0;              // octets the header takes at the start of the input
    std::optional<Endpoints> endpoints;  // none: LOCAL, UNKNOWN or UNSPEC; use the socket's peer
    std::size_t extension_count = 0;     // v2 TLVs walked over
};

// The input so far is the start of a header that may still be valid: read more.
struct NeedMore {};

// Not a header, or one this parser refuses; `reason` is a fixed phrase for the log line.
struct Malformed {
    std::string_view reason;
};

using Parse = std::variant<NeedMore, Header, Malformed>;

// Reads the header at the start of `input`. `header_bytes_max` bounds the whole header (v2's
// extensions make it variable); it must be at least header_bytes_max_min. Bytes after the
// header (the client's first bytes: a TLS ClientHello, an early command) are not looked at.
Parse parse_header(std::string_view input, std::size_t header_bytes_max);

}  // namespace relay::proxy
