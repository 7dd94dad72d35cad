// socket_address.cc -- numeric address parsing and formatting.
#include "relay/engine/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace relay::engine {

std::optional<SocketAddress> SocketAddress::from_ip(std::string_view ip, std::uint16_t port) {
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') {
        ip = ip.substr(1, ip.size() - 2);
    }
    if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) {
        return std::nullopt;
    }
    char text[INET6_ADDRSTRLEN] = {};
    std::memcpy(text, ip.data(), ip.size());
    SocketAddress address;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return address;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return address;
    }
    return std::nullopt;
}

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    std::string_view port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos &&
        !(host.size() >= 2 && host.front() == '[' && host.back() == ']')) {
        return std::nullopt;  // an IPv6 address needs brackets when a port follows
    }
    unsigned port = 0;
    auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
        return std::nullopt;
    }
    return from_ip(host, static_cast<std::uint16_t>(port));
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* address, socklen_t length) {
    SocketAddress result;
    std::memcpy(&result.storage_, address, std::min<std::size_t>(length, sizeof result.storage_));
    return result;
}

socklen_t SocketAddress::length() const {
    return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::uint16_t SocketAddress::port() const {
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

void SocketAddress::set_port(std::uint16_t port) {
    if (family() == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
    } else {
        reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
    }
}

std::string SocketAddress::ip() const {
    char text[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
                  sizeof text);
    } else if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                  sizeof text);
    }
    return text;
}

std::string SocketAddress::to_string() const {
    if (family() == AF_INET6) {
        return "[" + ip() + "]:" + std::to_string(port());
    }
    return ip() + ":" + std::to_string(port());
}

bool SocketAddress::is_loopback() const {
    if (family() == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            return v6->sin6_addr.s6_addr[12] == 127;
        }
        return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    }
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage_);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
}

bool SocketAddress::operator==(const SocketAddress& other) const {
    if (family() != other.family()) {
        return false;
    }
    return std::memcmp(&storage_, &other.storage_, length()) == 0;
}

}  // namespace relay::engine
