// values.h -- the typed values a configuration file holds as text: host names, "HOST:PORT"
// endpoints and CIDR networks.
//
// Pure: text in, a value or an Error out, never an exception. The loader parses every such value
// once, so that no worker ever converts text again (a worker that met "mx:abc" would have
// nothing better to do than crash). Each Error says what was expected; the loader adds the key.
//
// Thread: any.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::config {

// A DNS host name (RFC 1123 §2.1): dot-separated labels of letters, digits and hyphens, no label
// starting or ending with a hyphen, labels of 1-63 bytes, 253 bytes in all; one trailing dot
// is allowed. Underscores are refused: they are not valid in host names.
bool is_host_name(std::string_view text);
// As a host name, but labels may also hold UTF-8 (an internationalised mail domain as written).
bool is_domain_name(std::string_view text);

// "name:port", "IPv4:port" or "[IPv6]:port", port 1-65535.
struct Endpoint {
    std::string host;  // as written, brackets of an IPv6 literal included
    std::uint16_t port = 0;
    bool operator==(const Endpoint&) const = default;
};
Result<Endpoint> parse_endpoint(std::string_view text);

// A port number written as decimal digits only, 1-65535.
Result<std::uint16_t> parse_port(std::string_view text);

// An IPv4 or IPv6 network, "192.0.2.0/24" or "2001:db8::/32"; a bare address is a /32 or /128.
// Host bits below the prefix must be zero, so that a typo such as "10.0.0.1/8" is caught.
struct Cidr {
    bool ipv6 = false;
    std::array<std::uint8_t, 16> address{};  // network byte order; IPv4 in the first 4 bytes
    unsigned prefix_bits = 0;

    static Result<Cidr> parse(std::string_view text);
    // `ip` is a numeric address as text; false for text that is not one. An IPv4-mapped IPv6
    // address (::ffff:192.0.2.1) is also the IPv4 address it maps: a dual-stack socket reports
    // IPv4 clients that way, and the operator wrote their networks as IPv4.
    bool contains(std::string_view ip) const;
    // The same for a socket address (AF_INET or AF_INET6; false for any other family). Reads
    // only the bytes: no allocation, so a listener can check every client it accepts.
    bool contains(const sockaddr* address) const;
    std::string to_string() const;
    bool operator==(const Cidr&) const = default;

  private:
    bool contains_bytes(bool candidate_ipv6, std::array<std::uint8_t, 16> candidate) const;
    std::string masked_text() const;  // the network with the host bits cleared
};

}  // namespace relay::config
