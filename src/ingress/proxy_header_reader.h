// proxy_header_reader.h -- a balanced connection's PROXY protocol header, gathered across
// receives, and what follows it.
//
// The header is usually one segment, but TCP owes nothing: it may come an octet at a time, and
// the client's first bytes (a TLS ClientHello on an implicit-TLS listener) may share its last
// segment. The reader keeps what it has been given only while the header is incomplete, which
// the parser bounds by the listener's proxy_header_bytes_max; once the header is whole, the
// octets after it are handed back for the session to read as the client's.
//
// Untrusted bytes: everything received. Thread: the session's worker. Allocates only when a
// header is split across receives, at most proxy_header_bytes_max octets.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <variant>

#include "relay/engine/socket_address.h"
#include "relay/proxy/header.h"

namespace relay::ingress::internal {

class ProxyHeaderReader {
  public:
    // `header_bytes_max`: at least proxy::header_bytes_max_min (the config's lower bound).
    explicit ProxyHeaderReader(std::size_t header_bytes_max)
        : header_bytes_max_(header_bytes_max) {}

    struct Waiting {};
    // `rest`: the client's octets after the header, valid until the next call or the reader's
    // end (in the received bytes or in the reader's own buffer).
    struct Ready {
        proxy::Header header;
        std::span<char> rest;
    };
    using Step = std::variant<Waiting, Ready, proxy::Malformed>;

    Step receive(std::span<char> bytes);
    std::size_t received_bytes() const { return received_bytes_; }

  private:
    std::size_t header_bytes_max_;
    std::size_t received_bytes_ = 0;
    std::string pending_;  // an incomplete header's octets so far
};

// The client as a socket address: the header's source endpoint.
engine::SocketAddress socket_address(const proxy::Endpoint& endpoint);

}  // namespace relay::ingress::internal
