// proxy_header_reader.cc -- gathering the PROXY protocol header across receives.
#include "proxy_header_reader.h"

#include <arpa/inet.h>

#include <cstring>

#include "relay/base/assert.h"

namespace relay::ingress::internal {

ProxyHeaderReader::Step ProxyHeaderReader::receive(std::span<char> bytes) {
    received_bytes_ += bytes.size();
    std::span<char> input = bytes;
    if (!pending_.empty()) {
        pending_.append(bytes.data(), bytes.size());
        input = std::span<char>(pending_);
    }
    proxy::Parse parse =
        proxy::parse_header(std::string_view(input.data(), input.size()), header_bytes_max_);
    if (std::holds_alternative<proxy::NeedMore>(parse)) {
        if (pending_.empty()) {
            pending_.assign(bytes.data(), bytes.size());
        }
        // Need-more means all of it is the start of a header no longer than the bound.
        RELAY_ASSERT(pending_.size() <= header_bytes_max_);
        return Waiting{};
    }
    if (auto* malformed = std::get_if<proxy::Malformed>(&parse)) {
        return *malformed;
    }
    proxy::Header& header = std::get<proxy::Header>(parse);
    RELAY_ASSERT(header.length <= input.size());
    std::span<char> rest = input.subspan(header.length);
    return Ready{header, rest};
}

engine::SocketAddress socket_address(const proxy::Endpoint& endpoint) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (endpoint.family == proxy::Family::ipv4) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(endpoint.port);
        std::memcpy(&v4->sin_addr, endpoint.address.data(), 4);
        length = sizeof(sockaddr_in);
    } else {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(endpoint.port);
        std::memcpy(&v6->sin6_addr, endpoint.address.data(), 16);
        length = sizeof(sockaddr_in6);
    }
    return engine::SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage),
                                                length);
}

}  // namespace relay::ingress::internal
