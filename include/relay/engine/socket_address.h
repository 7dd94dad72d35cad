// socket_address.h -- IPv4/IPv6 socket addresses: parsing "IP:PORT", formatting, comparing.
//
// Pure. Accepts numeric addresses only ("127.0.0.1:2525", "[::1]:2525"): host names in the
// config would need DNS at start-up, which a relay should not depend on.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relay::engine {

class SocketAddress {
  public:
    SocketAddress() = default;
    static std::optional<SocketAddress> parse(std::string_view text);
    // An IP without a port ("192.0.2.1", "2001:db8::1", or bracketed) with the given port.
    static std::optional<SocketAddress> from_ip(std::string_view ip, std::uint16_t port);
    static SocketAddress from_sockaddr(const sockaddr* address, socklen_t length);

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage_); }
    socklen_t length() const;
    int family() const { return storage_.ss_family; }
    std::uint16_t port() const;
    void set_port(std::uint16_t port);

    std::string ip() const;         // "192.0.2.1", "2001:db8::1"
    std::string to_string() const;  // "192.0.2.1:25", "[2001:db8::1]:25"
    bool is_loopback() const;

    bool operator==(const SocketAddress& other) const;

  private:
    sockaddr_storage storage_{};
};

}  // namespace relay::engine
