// proxy_header_reader_test.cc -- the PROXY header gathered across receives of any size, and
// the client's octets that follow it handed on intact.
#include "proxy_header_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace relay::ingress::internal {
namespace {

const std::string header = "PROXY TCP6 2001:db8::7 2001:db8:1::25 51234 465\r\n";
const std::string client_hello("\x16\x03\x01\x00\x05hello", 10);

// Feeds `input` in pieces of `piece` octets; what came after the header, or "" if none did.
std::string read_in_pieces(const std::string& input, std::size_t piece,
                           engine::SocketAddress& client) {
    ProxyHeaderReader reader(1024);
    std::string copy = input;  // received bytes are writable, as the provided buffers are
    for (std::size_t offset = 0; offset < copy.size(); offset += piece) {
        std::size_t size = std::min(piece, copy.size() - offset);
        ProxyHeaderReader::Step step = reader.receive(std::span<char>(copy).subspan(offset, size));
        if (auto* ready = std::get_if<ProxyHeaderReader::Ready>(&step)) {
            EXPECT_TRUE(ready->header.endpoints);
            client = socket_address(ready->header.endpoints->source);
            // What the session reads next: the rest of this piece, then the later pieces.
            return std::string(ready->rest.data(), ready->rest.size()) + copy.substr(offset + size);
        }
        EXPECT_TRUE(std::holds_alternative<ProxyHeaderReader::Waiting>(step));
    }
    ADD_FAILURE() << "no header in pieces of " << piece;
    return "";
}

TEST(ProxyHeaderReader, AnySplitGivesTheClientAndItsFirstOctets) {
    for (std::size_t piece = 1; piece <= header.size() + client_hello.size(); ++piece) {
        engine::SocketAddress client;
        EXPECT_EQ(read_in_pieces(header + client_hello, piece, client), client_hello)
            << "pieces of " << piece;
        EXPECT_EQ(client.to_string(), "[2001:db8::7]:51234");
    }
}

TEST(ProxyHeaderReader, GarbageAfterAWaitIsRefused) {
    ProxyHeaderReader reader(1024);
    std::string start = "PROXY TCP4 192.0.2.7";
    std::string garbage = "\x01 1 2\r\n";
    EXPECT_TRUE(std::holds_alternative<ProxyHeaderReader::Waiting>(reader.receive(start)));
    ProxyHeaderReader::Step step = reader.receive(garbage);
    ASSERT_TRUE(std::holds_alternative<proxy::Malformed>(step));
    EXPECT_EQ(std::get<proxy::Malformed>(step).reason, "v1 line has a control or non-ASCII octet");
    EXPECT_EQ(reader.received_bytes(), start.size() + garbage.size());
}

TEST(ProxyHeaderReader, Ipv4ClientBecomesASocketAddress) {
    proxy::Endpoint endpoint;
    endpoint.family = proxy::Family::ipv4;
    endpoint.address = {192, 0, 2, 7};
    endpoint.port = 2525;
    engine::SocketAddress address = socket_address(endpoint);
    EXPECT_EQ(address.family(), AF_INET);
    EXPECT_EQ(address.to_string(), "192.0.2.7:2525");
}

}  // namespace
}  // namespace relay::ingress::internal
