// values.cc -- host names, endpoints and CIDR networks from configuration text.
//
// Untrusted only in the sense that an operator's typo reaches it; it is fuzzed through the
// configuration loader (fuzz/config_fuzzer.cc).
#include "relay/config/values.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace relay::config {
namespace {

constexpr std::size_t host_name_bytes_max = 253;
constexpr std::size_t label_bytes_max = 63;

bool is_label_byte(char c, bool allow_utf8) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           (allow_utf8 && static_cast<unsigned char>(c) >= 0x80);
}

// Parses a numeric IPv4 or IPv6 address; false when `text` is not one.
bool parse_ip(std::string_view text, bool& ipv6, std::array<std::uint8_t, 16>& bytes) {
    char buffer[INET6_ADDRSTRLEN] = {};
    if (text.empty() || text.size() >= sizeof buffer) {
        return false;
    }
    std::memcpy(buffer, text.data(), text.size());
    bytes = {};
    if (inet_pton(AF_INET, buffer, bytes.data()) == 1) {
        ipv6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, buffer, bytes.data()) == 1) {
        ipv6 = true;
        return true;
    }
    return false;
}

bool is_ip_literal(std::string_view host) {
    bool ipv6 = false;
    std::array<std::uint8_t, 16> bytes{};
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        return parse_ip(host.substr(1, host.size() - 2), ipv6, bytes) && ipv6;
    }
    return parse_ip(host, ipv6, bytes) && !ipv6;
}

// True when the first `bits` bits of `a` and `b` agree.
bool same_prefix(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                 unsigned bits) {
    std::size_t whole = bits / 8;
    if (std::memcmp(a.data(), b.data(), whole) != 0) {
        return false;
    }
    unsigned rest = bits % 8;
    if (rest == 0) {
        return true;
    }
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool is_name(std::string_view text, bool allow_utf8) {
    if (!text.empty() && text.back() == '.') {
        text.remove_suffix(1);
    }
    if (text.empty() || text.size() > host_name_bytes_max) {
        return false;
    }
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('.', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view label = text.substr(start, end - start);
        if (label.empty() || label.size() > label_bytes_max || label.front() == '-' ||
            label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (!is_label_byte(c, allow_utf8)) {
                return false;
            }
        }
        start = end + 1;
    }
    return true;
}

}  // namespace

bool is_host_name(std::string_view text) {
    return is_name(text, false);
}

bool is_domain_name(std::string_view text) {
    return is_name(text, true);
}

Result<std::uint16_t> parse_port(std::string_view text) {
    unsigned port = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || port < 1 ||
        port > 65535) {
        return Error{"the port must be a number from 1 to 65535 (got \"" + std::string(text) +
                     "\")"};
    }
    return static_cast<std::uint16_t>(port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return Error{"must be \"HOST:PORT\" (got \"" + std::string(text) + "\")"};
    }
    std::string_view host = text.substr(0, colon);
    auto port = parse_port(text.substr(colon + 1));
    if (!port) {
        return port.error();
    }
    if (!is_ip_literal(host) && !is_host_name(host)) {
        return Error{"\"" + std::string(host) +
                     "\" is neither a host name, an IPv4 address nor a bracketed IPv6 address"};
    }
    return Endpoint{std::string(host), *port};
}

Result<Cidr> Cidr::parse(std::string_view text) {
    std::size_t slash = text.find('/');
    Cidr cidr;
    if (!parse_ip(text.substr(0, slash), cidr.ipv6, cidr.address)) {
        return Error{"must be a network \"ADDRESS/BITS\" (got \"" + std::string(text) + "\")"};
    }
    unsigned bits_max = cidr.ipv6 ? 128 : 32;
    cidr.prefix_bits = bits_max;
    if (slash != std::string_view::npos) {
        std::string_view bits = text.substr(slash + 1);
        unsigned value = 0;
        auto [end, error] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
        if (bits.empty() || error != std::errc() || end != bits.data() + bits.size() ||
            value > bits_max) {
            return Error{"the prefix length must be a number from 0 to " +
                         std::to_string(bits_max) + " (got \"" + std::string(text) + "\")"};
        }
        cidr.prefix_bits = value;
    }
    std::array<std::uint8_t, 16> zero{};
    std::array<std::uint8_t, 16> host_part = cidr.address;
    for (unsigned bit = 0; bit < cidr.prefix_bits; ++bit) {
        host_part[bit / 8] = static_cast<std::uint8_t>(host_part[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    if (host_part != zero) {
        return Error{"has bits set after the prefix length (got \"" + std::string(text) +
                     "\"; did you mean " + cidr.masked_text() + "?)"};
    }
    return cidr;
}

namespace {

// ::ffff:0:0/96 (RFC 4291 §2.5.5.2).
bool is_ipv4_mapped(const std::array<std::uint8_t, 16>& bytes) {
    constexpr std::array<std::uint8_t, 12> prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), prefix.data(), prefix.size()) == 0;
}

}  // namespace

bool Cidr::contains_bytes(bool candidate_ipv6, std::array<std::uint8_t, 16> candidate) const {
    if (candidate_ipv6 && !ipv6 && is_ipv4_mapped(candidate)) {
        std::memmove(candidate.data(), candidate.data() + 12, 4);
        candidate_ipv6 = false;
    }
    if (candidate_ipv6 != ipv6) {
        return false;
    }
    return same_prefix(address, candidate, prefix_bits);
}

bool Cidr::contains(std::string_view ip) const {
    bool candidate_ipv6 = false;
    std::array<std::uint8_t, 16> candidate{};
    if (!parse_ip(ip, candidate_ipv6, candidate)) {
        return false;
    }
    return contains_bytes(candidate_ipv6, candidate);
}

bool Cidr::contains(const sockaddr* socket_address) const {
    std::array<std::uint8_t, 16> candidate{};
    if (socket_address->sa_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(socket_address);
        std::memcpy(candidate.data(), &v4->sin_addr, 4);
        return contains_bytes(false, candidate);
    }
    if (socket_address->sa_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(socket_address);
        std::memcpy(candidate.data(), &v6->sin6_addr, 16);
        return contains_bytes(true, candidate);
    }
    return false;
}

std::string Cidr::to_string() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    inet_ntop(ipv6 ? AF_INET6 : AF_INET, address.data(), buffer, sizeof buffer);
    return std::string(buffer) + "/" + std::to_string(prefix_bits);
}

std::string Cidr::masked_text() const {
    Cidr masked = *this;
    for (unsigned bit = prefix_bits; bit < 128; ++bit) {
        masked.address[bit / 8] =
            static_cast<std::uint8_t>(masked.address[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    return masked.to_string();
}

}  // namespace relay::config
