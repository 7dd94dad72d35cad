// header_test.cc -- the PROXY protocol parser: each form, every split point, refusals, garbage.
#include "relay/proxy/header.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace relay::proxy {
namespace {

constexpr std::size_t bound = 1024;
constexpr std::string_view after = "EHLO client.example\r\n";

std::string ipv4(std::string_view text) {
    std::string bytes(4, '\0');
    EXPECT_EQ(inet_pton(AF_INET, std::string(text).c_str(), bytes.data()), 1);
    return bytes;
}
std::string ipv6(std::string_view text) {
    std::string bytes(16, '\0');
    EXPECT_EQ(inet_pton(AF_INET6, std::string(text).c_str(), bytes.data()), 1);
    return bytes;
}
std::string be16(std::size_t value) {
    return {static_cast<char>(value >> 8 & 0xff), static_cast<char>(value & 0xff)};
}

// A v2 header built by hand from the specification's layout, not by the code under test.
std::string v2(std::uint8_t version_command, std::uint8_t family, const std::string& block) {
    return std::string(v2_signature) + static_cast<char>(version_command) +
           static_cast<char>(family) + be16(block.size()) + block;
}
std::string v2_tcp4(std::string_view source, std::uint16_t source_port,
                    std::string_view destination, std::uint16_t destination_port,
                    const std::string& extensions = {}) {
    return v2(
        0x21, 0x11,
        ipv4(source) + ipv4(destination) + be16(source_port) + be16(destination_port) + extensions);
}
std::string v2_tcp6(std::string_view source, std::uint16_t source_port,
                    std::string_view destination, std::uint16_t destination_port,
                    const std::string& extensions = {}) {
    return v2(
        0x21, 0x21,
        ipv6(source) + ipv6(destination) + be16(source_port) + be16(destination_port) + extensions);
}
std::string extension(std::uint8_t type, const std::string& value) {
    return static_cast<char>(type) + be16(value.size()) + value;
}

std::string text_of(const Endpoint& endpoint) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(endpoint.family == Family::ipv4 ? AF_INET : AF_INET6, endpoint.address.data(), text,
              sizeof text);
    return text;
}

Header header_of(std::string_view input, std::size_t header_bytes_max = bound) {
    Parse parse = parse_header(input, header_bytes_max);
    if (const auto* refused = std::get_if<Malformed>(&parse)) {
        ADD_FAILURE() << "malformed: " << refused->reason;
        return {};
    }
    EXPECT_TRUE(std::holds_alternative<Header>(parse)) << "need more";
    return std::holds_alternative<Header>(parse) ? std::get<Header>(parse) : Header{};
}

std::string_view reason_of(std::string_view input, std::size_t header_bytes_max = bound) {
    Parse parse = parse_header(input, header_bytes_max);
    const auto* refused = std::get_if<Malformed>(&parse);
    EXPECT_NE(refused, nullptr) << "accepted or waiting for: " << testing::PrintToString(input);
    return refused != nullptr ? refused->reason : std::string_view{};
}

TEST(ProxyHeader, V1Tcp4) {
    std::string line = "PROXY TCP4 203.0.113.7 192.0.2.1 51234 25\r\n";
    Header header = header_of(line + std::string(after));
    EXPECT_EQ(header.version, 1);
    EXPECT_EQ(header.length, line.size());
    ASSERT_TRUE(header.endpoints);
    EXPECT_EQ(header.endpoints->source.family, Family::ipv4);
    EXPECT_EQ(text_of(header.endpoints->source), "203.0.113.7");
    EXPECT_EQ(header.endpoints->source.port, 51234);
    EXPECT_EQ(text_of(header.endpoints->destination), "192.0.2.1");
    EXPECT_EQ(header.endpoints->destination.port, 25);
}

TEST(ProxyHeader, V1Tcp6) {
    std::string line = "PROXY TCP6 2001:db8::7 2001:db8:1::25 65535 0\r\n";
    Header header = header_of(line);
    EXPECT_EQ(header.length, line.size());
    ASSERT_TRUE(header.endpoints);
    EXPECT_EQ(header.endpoints->source.family, Family::ipv6);
    EXPECT_EQ(text_of(header.endpoints->source), "2001:db8::7");
    EXPECT_EQ(header.endpoints->source.port, 65535);
    EXPECT_EQ(text_of(header.endpoints->destination), "2001:db8:1::25");
    EXPECT_EQ(header.endpoints->destination.port, 0);
}

TEST(ProxyHeader, V1UnknownLeavesTheSocketAddress) {
    for (std::string line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
        Header header = header_of(line + std::string(after));
        EXPECT_EQ(header.length, line.size());
        EXPECT_FALSE(header.endpoints);
    }
}

TEST(ProxyHeader, V1AtItsLongestIsAccepted) {
    const std::string longest_address = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const std::string addresses = longest_address + " " + longest_address + " 65535 65535\r\n";
    // The specification's worst case is UNKNOWN with addresses, 107 octets; TCP6's is 104.
    std::string line = "PROXY UNKNOWN " + addresses;
    ASSERT_EQ(line.size(), v1_header_bytes_max);
    EXPECT_EQ(header_of(line).length, v1_header_bytes_max);
    line = "PROXY TCP6 " + addresses;
    Header header = header_of(line);
    EXPECT_EQ(header.length, line.size());
    ASSERT_TRUE(header.endpoints);
    EXPECT_EQ(text_of(header.endpoints->source), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    // One more octet before the CRLF: refused as soon as the CR is late, not waited for.
    std::string longer = "PROXY UNKNOWN " + addresses;
    longer.insert(20, "f");
    EXPECT_EQ(reason_of(longer), "v1 line longer than 107 octets");
    EXPECT_EQ(reason_of(longer.substr(0, v1_header_bytes_max - 1)),
              "v1 line longer than 107 octets");
    EXPECT_TRUE(std::holds_alternative<NeedMore>(
        parse_header(longer.substr(0, v1_header_bytes_max - 2), bound)));
}

TEST(ProxyHeader, V1Refusals) {
    EXPECT_EQ(reason_of("PROXY TCP5 203.0.113.7 192.0.2.1 1 2\r\n"),
              "v1 protocol is not TCP4, TCP6 or UNKNOWN");
    for (std::string_view fields :
         {"TCP4 203.0.113.7 192.0.2.1 1", "TCP4 203.0.113.7 192.0.2.1 1 2 3",
          "TCP4 203.0.113.7  192.0.2.1 1 2", "TCP4 203.0.113.7 192.0.2.1 1 2 ", "TCP4", ""}) {
        EXPECT_EQ(reason_of("PROXY " + std::string(fields) + "\r\n"),
                  "v1 line is not PROTOCOL SOURCE DESTINATION SOURCE-PORT DESTINATION-PORT");
    }
    for (std::string_view addresses :
         {"TCP4 2001:db8::1 192.0.2.1", "TCP6 203.0.113.7 2001:db8::1", "TCP4 256.0.0.1 192.0.2.1",
          "TCP4 host.example 192.0.2.1", "TCP4 203.0.113 192.0.2.1"}) {
        EXPECT_EQ(reason_of("PROXY " + std::string(addresses) + " 1 2\r\n"),
                  "v1 address is not a numeric address of its protocol");
    }
    for (std::string_view ports : {"65536 25", "025 25", "-1 25", "+1 25", "1 0x19", "1 100000"}) {
        EXPECT_EQ(reason_of("PROXY TCP4 203.0.113.7 192.0.2.1 " + std::string(ports) + "\r\n"),
                  "v1 port is not a decimal number from 0 to 65535");
    }
    EXPECT_EQ(reason_of("PROXY TCP4 203.0.113.7 192.0.2.1 1 2\rX"), "v1 line has a CR without LF");
    // A bare LF, a NUL, an 8-bit octet: refused where they stand, before any CR.
    EXPECT_EQ(reason_of("PROXY TCP4 203.0.113.7\n"), "v1 line has a control or non-ASCII octet");
    EXPECT_EQ(reason_of(std::string("PROXY TCP4 \0", 12)),
              "v1 line has a control or non-ASCII octet");
    EXPECT_EQ(reason_of("PROXY TCP4 \xc3\xa9"), "v1 line has a control or non-ASCII octet");
    EXPECT_EQ(reason_of("proxy TCP4 203.0.113.7 192.0.2.1 1 2\r\n"), "not a PROXY protocol header");
    EXPECT_EQ(reason_of("PROXY\tTCP4"), "not a PROXY protocol header");
}

TEST(ProxyHeader, V2Tcp4WithExtensions) {
    // ALPN, authority and a NOOP pad: what HAProxy adds with send-proxy-v2-ssl and friends.
    std::string extensions = extension(0x01, "smtp") + extension(0x02, "relay.example") +
                             extension(0x04, std::string(7, '\0')) + extension(0x20, "");
    std::string header_bytes = v2_tcp4("203.0.113.7", 51234, "192.0.2.1", 25, extensions);
    Header header = header_of(header_bytes + std::string(after));
    EXPECT_EQ(header.version, 2);
    EXPECT_EQ(header.length, header_bytes.size());
    EXPECT_EQ(header.extension_count, 4u);
    ASSERT_TRUE(header.endpoints);
    EXPECT_EQ(header.endpoints->source.family, Family::ipv4);
    EXPECT_EQ(text_of(header.endpoints->source), "203.0.113.7");
    EXPECT_EQ(header.endpoints->source.port, 51234);
    EXPECT_EQ(text_of(header.endpoints->destination), "192.0.2.1");
    EXPECT_EQ(header.endpoints->destination.port, 25);
}

TEST(ProxyHeader, V2Tcp6) {
    std::string header_bytes = v2_tcp6("2001:db8::7", 443, "2001:db8:1::25", 465);
    Header header = header_of(header_bytes);
    EXPECT_EQ(header.length, v2_fixed_bytes + 36);
    ASSERT_TRUE(header.endpoints);
    EXPECT_EQ(header.endpoints->source.family, Family::ipv6);
    EXPECT_EQ(text_of(header.endpoints->source), "2001:db8::7");
    EXPECT_EQ(header.endpoints->source.port, 443);
    EXPECT_EQ(text_of(header.endpoints->destination), "2001:db8:1::25");
    EXPECT_EQ(header.endpoints->destination.port, 465);
}

TEST(ProxyHeader, V2LocalAndUnspecLeaveTheSocketAddress) {
    // LOCAL: the balancer's own health check; whatever block it carries is skipped unread.
    for (const std::string& header_bytes :
         {v2(0x20, 0x00, ""),
          v2(0x20, 0x11, ipv4("192.0.2.9") + ipv4("192.0.2.1") + be16(1) + be16(2)),
          v2(0x20, 0x31, std::string(216, 'u')), v2(0x21, 0x00, "ignored")}) {
        Header header = header_of(header_bytes + std::string(after));
        EXPECT_EQ(header.version, 2);
        EXPECT_EQ(header.length, header_bytes.size());
        EXPECT_FALSE(header.endpoints);
    }
}

TEST(ProxyHeader, V2Refusals) {
    std::string tcp4 = ipv4("203.0.113.7") + ipv4("192.0.2.1") + be16(1) + be16(2);
    EXPECT_EQ(reason_of(v2(0x11, 0x11, tcp4)), "v2 header of an unknown version");
    EXPECT_EQ(reason_of(v2(0x31, 0x11, tcp4)), "v2 header of an unknown version");
    EXPECT_EQ(reason_of(v2(0x22, 0x11, tcp4)), "v2 command is neither LOCAL nor PROXY");
    for (std::uint8_t family : {0x12, 0x22, 0x31, 0x32, 0x10, 0x13, 0x41}) {
        EXPECT_EQ(reason_of(v2(0x21, family, tcp4 + std::string(216, '\0'))),
                  "v2 family is not TCP over IPv4 or IPv6");
    }
    EXPECT_EQ(reason_of(v2(0x21, 0x11, tcp4.substr(0, 11))),
              "v2 address block shorter than its family needs");
    EXPECT_EQ(reason_of(v2(0x21, 0x21, tcp4 + std::string(23, '\0'))),
              "v2 address block shorter than its family needs");
    // An extension that claims more than is left, or a stray octet or two after the last one.
    EXPECT_EQ(reason_of(v2(0x21, 0x11, tcp4 + extension(0x01, "smtp").substr(0, 6))),
              "v2 extension runs past the end of the header");
    EXPECT_EQ(reason_of(v2(0x21, 0x11, tcp4 + extension(0x01, "smtp") + std::string(2, '\x04'))),
              "v2 extension runs past the end of the header");
    EXPECT_EQ(reason_of(std::string("\r\n\r\n\0\r\nQUIT\r", 12)), "not a PROXY protocol header");
    EXPECT_EQ(reason_of("\r\nEHLO"), "not a PROXY protocol header");
}

TEST(ProxyHeader, V2LongerThanTheBoundIsRefusedBeforeItArrives) {
    std::string big =
        v2_tcp4("203.0.113.7", 1, "192.0.2.1", 2, extension(0xe0, std::string(900, 'x')));
    EXPECT_EQ(header_of(big, big.size()).length, big.size());
    std::string_view fixed_part = std::string_view(big).substr(0, v2_fixed_bytes);
    EXPECT_EQ(reason_of(fixed_part, big.size() - 1), "header longer than proxy_header_bytes_max");
    // The largest length the field can say: refused as soon as the field is in.
    std::string largest = v2(0x21, 0x11, std::string(65535, '\0')).substr(0, v2_fixed_bytes);
    EXPECT_EQ(reason_of(largest, 65535), "header longer than proxy_header_bytes_max");
}

// Every header, cut at every octet: each proper prefix waits for more, and the whole header
// gives the same answer whatever follows it.
TEST(ProxyHeader, EverySplitPointWaitsThenParses) {
    std::vector<std::string> headers = {
        "PROXY TCP4 203.0.113.7 192.0.2.1 51234 25\r\n",
        "PROXY TCP6 2001:db8::7 2001:db8:1::25 65535 0\r\n",
        "PROXY UNKNOWN\r\n",
        v2_tcp4("203.0.113.7", 51234, "192.0.2.1", 25),
        v2_tcp4("203.0.113.7", 51234, "192.0.2.1", 25, extension(0x01, "smtp")),
        v2_tcp6("2001:db8::7", 443, "2001:db8:1::25", 465, extension(0x04, "")),
        v2(0x20, 0x00, ""),
    };
    for (const std::string& header_bytes : headers) {
        Header whole = header_of(header_bytes);
        for (std::size_t cut = 0; cut < header_bytes.size(); ++cut) {
            Parse parse = parse_header(std::string_view(header_bytes).substr(0, cut), bound);
            EXPECT_TRUE(std::holds_alternative<NeedMore>(parse))
                << testing::PrintToString(header_bytes) << " cut at " << cut;
        }
        for (std::string_view rest : {after, std::string_view("\x16\x03\x01\x02\x00", 5)}) {
            Header followed = header_of(header_bytes + std::string(rest));
            EXPECT_EQ(followed.length, header_bytes.size());
            EXPECT_EQ(followed.endpoints, whole.endpoints);
        }
    }
}

// What a client that speaks no PROXY protocol sends first: refused at its first octet.
TEST(ProxyHeader, OtherProtocolsAreRefusedAtOnce) {
    using namespace std::string_view_literals;
    const std::string_view firsts[] = {
        "EHLO client.example\r\n", "GET / HTTP/1.1\r\n", "\x16\x03\x01", "QUIT\r\n", "\n", "\0"sv};
    for (std::string_view first : firsts) {
        EXPECT_EQ(reason_of(first.substr(0, 1)), "not a PROXY protocol header");
        EXPECT_EQ(reason_of(first), "not a PROXY protocol header");
    }
}

// Random octets, and random mutations of valid headers: always one of the three answers, a
// header never longer than the input or the bound, a v1 header always ending in CRLF.
TEST(ProxyHeader, GarbageNeverYieldsAHeaderLongerThanItsInput) {
    std::mt19937 random(20261201);
    std::vector<std::string> seeds = {
        "PROXY TCP4 203.0.113.7 192.0.2.1 51234 25\r\n",
        v2_tcp4("203.0.113.7", 51234, "192.0.2.1", 25, extension(0x01, "smtp")),
        v2_tcp6("2001:db8::7", 443, "2001:db8:1::25", 465),
    };
    int headers = 0;
    for (int round = 0; round < 200000; ++round) {
        std::string input;
        if (round % 2 == 0) {
            input.resize(random() % 300);
            for (char& c : input) {
                c = static_cast<char>(random());
            }
            if (round % 4 == 0 && !input.empty()) {
                input[0] = round % 8 == 0 ? 'P' : '\r';
            }
        } else {
            input = seeds[random() % seeds.size()];
            for (unsigned flips = random() % 3 + 1; flips > 0; --flips) {
                input[random() % input.size()] = static_cast<char>(random());
            }
            input.resize(random() % (input.size() + 1));
        }
        std::size_t header_bytes_max = header_bytes_max_min + random() % 100;
        Parse parse = parse_header(input, header_bytes_max);
        if (const auto* header = std::get_if<Header>(&parse)) {
            ++headers;
            ASSERT_LE(header->length, input.size());
            ASSERT_LE(header->length, header_bytes_max);
            if (header->version == 1) {
                ASSERT_EQ(input.substr(header->length - 2, 2), "\r\n");
            }
        }
    }
    EXPECT_GT(headers, 0);  // the mutations do leave some valid headers (a changed port)
}

}  // namespace
}  // namespace relay::proxy
