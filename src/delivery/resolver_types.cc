// resolver_types.cc -- name validation and IP address conversions for DNS results.
//
// Pure; any thread. Untrusted bytes: names and address texts from recipient addresses and DNS
// answers; every input is bounded by dns_name_bytes_max or the fixed size of an address text
// before it is copied. RFC 1035 §2.3.4 (sizes), RFC 952/1123 host names (with '_', which real
// MX and service names use), RFC 4291 §2.2 (IPv6 text).
#include "relay/delivery/resolver_types.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "relay/base/ascii.h"
#include "relay/base/assert.h"

namespace relay::delivery {
namespace {

bool is_name_byte(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::optional<std::string> normalize_dns_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    if (name.empty() || name.size() > dns_name_bytes_max) {
        return std::nullopt;
    }
    std::string normalized(name);
    std::size_t label_bytes = 0;
    for (char& c : normalized) {
        c = ascii_lower(c);
        if (c == '.') {
            if (label_bytes == 0) {
                return std::nullopt;
            }
            label_bytes = 0;
            continue;
        }
        if (!is_name_byte(c) || ++label_bytes > dns_label_bytes_max) {
            return std::nullopt;
        }
    }
    if (label_bytes == 0) {
        return std::nullopt;
    }
    return normalized;
}

std::string printable_dns_name(std::string_view name) {
    const std::size_t kept = std::min(name.size(), dns_name_bytes_max);
    std::string printable;
    printable.reserve(kept + 3);
    for (std::size_t i = 0; i < kept; ++i) {
        const char c = name[i];
        printable.push_back(c > ' ' && c < 0x7f ? c : '?');
    }
    if (kept < name.size()) {
        printable += "...";
    }
    return printable;
}

IpAddress IpAddress::ipv4(std::array<std::uint8_t, 4> bytes) {
    std::array<std::uint8_t, 16> all{};
    std::memcpy(all.data(), bytes.data(), bytes.size());
    return IpAddress(Family::ipv4, all);
}

IpAddress IpAddress::ipv6(std::array<std::uint8_t, 16> bytes) {
    return IpAddress(Family::ipv6, bytes);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    // Longest IPv6 text: 8 groups of 4 hex digits and 7 colons, or the IPv4-suffixed form (45).
    constexpr std::size_t text_bytes_max = INET6_ADDRSTRLEN - 1;
    if (text.empty() || text.size() > text_bytes_max) {
        return std::nullopt;
    }
    char terminated[INET6_ADDRSTRLEN] = {};
    std::memcpy(terminated, text.data(), text.size());
    std::array<std::uint8_t, 16> bytes{};
    if (inet_pton(AF_INET, terminated, bytes.data()) == 1) {
        return IpAddress(Family::ipv4, bytes);
    }
    if (inet_pton(AF_INET6, terminated, bytes.data()) == 1) {
        return IpAddress(Family::ipv6, bytes);
    }
    return std::nullopt;
}

std::span<const std::uint8_t> IpAddress::bytes() const {
    return {bytes_.data(), is_ipv4() ? std::size_t{4} : std::size_t{16}};
}

std::string IpAddress::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    const char* written =
        inet_ntop(is_ipv4() ? AF_INET : AF_INET6, bytes_.data(), text, sizeof(text));
    RELAY_ASSERT(written != nullptr);  // the buffer fits either family
    return text;
}

SocketAddress IpAddress::to_socket_address(std::uint16_t port) const {
    SocketAddress address;
    if (is_ipv4()) {
        sockaddr_in ipv4_address{};
        ipv4_address.sin_family = AF_INET;
        ipv4_address.sin_port = htons(port);
        std::memcpy(&ipv4_address.sin_addr, bytes_.data(), 4);
        std::memcpy(&address.storage, &ipv4_address, sizeof(ipv4_address));
        address.length = sizeof(ipv4_address);
    } else {
        sockaddr_in6 ipv6_address{};
        ipv6_address.sin6_family = AF_INET6;
        ipv6_address.sin6_port = htons(port);
        std::memcpy(&ipv6_address.sin6_addr, bytes_.data(), 16);
        std::memcpy(&address.storage, &ipv6_address, sizeof(ipv6_address));
        address.length = sizeof(ipv6_address);
    }
    return address;
}

std::string_view outcome_name(DnsOutcome outcome) {
    switch (outcome) {
        case DnsOutcome::found:
            return "found";
        case DnsOutcome::no_data:
            return "no_data";
        case DnsOutcome::no_domain:
            return "no_domain";
        case DnsOutcome::temporary_failure:
            return "temporary_failure";
        case DnsOutcome::malformed_answer:
            return "malformed_answer";
    }
    RELAY_ASSERT(false);
}

}  // namespace relay::delivery
