// values_test.cc -- host names, "HOST:PORT" endpoints and CIDR networks, at their boundaries.
#include "relay/config/values.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>
#include <vector>

namespace relay::config {
namespace {

TEST(HostName, AcceptsLettersDigitsHyphensAndOneTrailingDot) {
    EXPECT_TRUE(is_host_name("mx.example.com"));
    EXPECT_TRUE(is_host_name("mx.example.com."));
    EXPECT_TRUE(is_host_name("localhost"));
    EXPECT_TRUE(is_host_name("a-1.b2"));
    EXPECT_TRUE(is_host_name("1.2.3.4"));  // digits-only labels are valid (RFC 1123 §2.1)
}

TEST(HostName, RefusesWhatDnsCannotCarry) {
    EXPECT_FALSE(is_host_name(""));
    EXPECT_FALSE(is_host_name("."));
    EXPECT_FALSE(is_host_name("mx..example.com"));
    EXPECT_FALSE(is_host_name(".example.com"));
    EXPECT_FALSE(is_host_name("-mx.example.com"));
    EXPECT_FALSE(is_host_name("mx-.example.com"));
    EXPECT_FALSE(is_host_name("mx_1.example.com"));
    EXPECT_FALSE(is_host_name("mx example.com"));
    EXPECT_FALSE(is_host_name("bücher.example"));
    EXPECT_TRUE(is_domain_name("bücher.example"));
    EXPECT_FALSE(is_domain_name("bücher..example"));
}

TEST(HostName, LabelAndNameLengthLimits) {
    std::string label63(63, 'a');
    EXPECT_TRUE(is_host_name(label63 + ".example"));
    EXPECT_FALSE(is_host_name(label63 + "a.example"));
    // 4 labels of 63 and dots: 255 bytes; 253 is the most a name may have.
    std::string name = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'a');
    ASSERT_EQ(name.size(), 253u);
    EXPECT_TRUE(is_host_name(name));
    EXPECT_FALSE(is_host_name(name + "a"));
}

TEST(Port, FromOneTo65535DigitsOnly) {
    EXPECT_EQ(parse_port("1").value(), 1);
    EXPECT_EQ(parse_port("65535").value(), 65535);
    EXPECT_FALSE(parse_port("0"));
    EXPECT_FALSE(parse_port("65536"));
    EXPECT_FALSE(parse_port("70000"));
    EXPECT_FALSE(parse_port(""));
    EXPECT_FALSE(parse_port("abc"));
    EXPECT_FALSE(parse_port("25a"));
    EXPECT_FALSE(parse_port("-25"));
    EXPECT_FALSE(parse_port("+25"));
    EXPECT_FALSE(parse_port(" 25"));
    EXPECT_FALSE(parse_port("99999999999999999999"));
    EXPECT_NE(parse_port("abc").error().message.find("\"abc\""), std::string::npos);
}

TEST(Endpoint, NamesAndAddressLiterals) {
    EXPECT_EQ(parse_endpoint("mx.example.com:25").value(), (Endpoint{"mx.example.com", 25}));
    EXPECT_EQ(parse_endpoint("192.0.2.1:2525").value(), (Endpoint{"192.0.2.1", 2525}));
    EXPECT_EQ(parse_endpoint("[2001:db8::1]:587").value(), (Endpoint{"[2001:db8::1]", 587}));
}

TEST(Endpoint, RefusesEachBadPart) {
    auto no_port = parse_endpoint("mx:abc");
    ASSERT_FALSE(no_port);
    EXPECT_NE(no_port.error().message.find("port"), std::string::npos);
    EXPECT_FALSE(parse_endpoint("mx.example.com"));
    EXPECT_FALSE(parse_endpoint("mx.example.com:"));
    EXPECT_FALSE(parse_endpoint(":25"));
    EXPECT_FALSE(parse_endpoint("mx.example.com:70000"));
    EXPECT_FALSE(parse_endpoint("2001:db8::1:25"));  // IPv6 needs brackets
    EXPECT_FALSE(parse_endpoint("[192.0.2.1]:25"));  // brackets are for IPv6 only
    EXPECT_FALSE(parse_endpoint("[mx.example.com]:25"));
    EXPECT_FALSE(parse_endpoint("mx_1.example.com:25"));
}

TEST(Cidr, ParsesBothFamiliesAndBareAddresses) {
    auto v4 = Cidr::parse("10.0.0.0/8");
    ASSERT_TRUE(v4) << v4.error().message;
    EXPECT_FALSE(v4->ipv6);
    EXPECT_EQ(v4->prefix_bits, 8u);
    EXPECT_EQ(v4->to_string(), "10.0.0.0/8");
    EXPECT_EQ(Cidr::parse("192.0.2.7").value().to_string(), "192.0.2.7/32");
    EXPECT_EQ(Cidr::parse("2001:db8::/32").value().to_string(), "2001:db8::/32");
    EXPECT_EQ(Cidr::parse("::1").value().to_string(), "::1/128");
    EXPECT_EQ(Cidr::parse("0.0.0.0/0").value().prefix_bits, 0u);
    EXPECT_EQ(Cidr::parse("::/0").value().prefix_bits, 0u);
}

TEST(Cidr, RefusesBadNetworks) {
    for (const char* text : {"", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "10.0.0.0/-1",
                             "10.0.0.0/8/8", "10.0.0/8", "10.0.0.256/32", "example.com/24",
                             "10.0.0.0/ 8", "10.0.0.0/8 ", "/8", "10.0.0.0/08x"}) {
        EXPECT_FALSE(Cidr::parse(text)) << text;
    }
}

TEST(Cidr, RefusesHostBitsAndSuggestsTheNetwork) {
    auto typo = Cidr::parse("10.0.0.1/8");
    ASSERT_FALSE(typo);
    EXPECT_NE(typo.error().message.find("did you mean 10.0.0.0/8?"), std::string::npos)
        << typo.error().message;
    EXPECT_FALSE(Cidr::parse("2001:db8::1/64"));
    EXPECT_TRUE(Cidr::parse("192.0.2.128/25"));
    EXPECT_FALSE(Cidr::parse("192.0.2.129/25"));
}

TEST(Cidr, ContainsAtThePrefixBoundary) {
    Cidr network = Cidr::parse("192.0.2.128/25").value();
    EXPECT_TRUE(network.contains("192.0.2.128"));
    EXPECT_TRUE(network.contains("192.0.2.255"));
    EXPECT_FALSE(network.contains("192.0.2.127"));
    EXPECT_FALSE(network.contains("192.0.3.128"));
    EXPECT_TRUE(network.contains("::ffff:192.0.2.200"));  // IPv4-mapped: the IPv4 address
    EXPECT_FALSE(network.contains("::ffff:192.0.2.100"));
    EXPECT_FALSE(network.contains("not an address"));
    EXPECT_TRUE(Cidr::parse("0.0.0.0/0").value().contains("203.0.113.9"));
    Cidr v6 = Cidr::parse("2001:db8:8000::/33").value();
    EXPECT_TRUE(v6.contains("2001:db8:ffff::1"));
    EXPECT_FALSE(v6.contains("2001:db8:7fff::1"));
    EXPECT_FALSE(v6.contains("10.0.0.1"));
}

sockaddr_in ipv4_socket(const char* ip) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(2525);
    EXPECT_EQ(inet_pton(AF_INET, ip, &address.sin_addr), 1) << ip;
    return address;
}

sockaddr_in6 ipv6_socket(const char* ip) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(2525);
    EXPECT_EQ(inet_pton(AF_INET6, ip, &address.sin6_addr), 1) << ip;
    return address;
}

bool contains_socket(const char* network, const char* ip) {
    Cidr cidr = Cidr::parse(network).value();
    if (std::string_view(ip).find(':') != std::string_view::npos) {
        sockaddr_in6 address = ipv6_socket(ip);
        return cidr.contains(reinterpret_cast<const sockaddr*>(&address));
    }
    sockaddr_in address = ipv4_socket(ip);
    return cidr.contains(reinterpret_cast<const sockaddr*>(&address));
}

TEST(Cidr, ContainsSocketAddressesOfBothFamilies) {
    EXPECT_TRUE(contains_socket("127.0.0.0/8", "127.0.0.1"));
    EXPECT_TRUE(contains_socket("127.0.0.0/8", "127.255.255.255"));
    EXPECT_FALSE(contains_socket("127.0.0.0/8", "128.0.0.0"));
    EXPECT_FALSE(contains_socket("127.0.0.0/8", "::1"));
    EXPECT_TRUE(contains_socket("::1/128", "::1"));
    EXPECT_FALSE(contains_socket("::1/128", "::2"));
    EXPECT_FALSE(contains_socket("::1/128", "127.0.0.1"));
    EXPECT_TRUE(contains_socket("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains_socket("2001:db8::/32", "2001:db9::"));
}

TEST(Cidr, MatchesIpv4MappedClientsAgainstIpv4Networks) {
    // A dual-stack listener ([::]:PORT) reports IPv4 clients as ::ffff:a.b.c.d.
    EXPECT_TRUE(contains_socket("192.0.2.0/24", "::ffff:192.0.2.9"));
    EXPECT_FALSE(contains_socket("192.0.2.0/24", "::ffff:192.0.3.9"));
    EXPECT_TRUE(contains_socket("127.0.0.1/32", "::ffff:127.0.0.1"));
    EXPECT_FALSE(contains_socket("127.0.0.1/32", "::ffff:127.0.0.2"));
    // Not mapped: the same low 32 bits under another prefix are an IPv6 address.
    EXPECT_FALSE(contains_socket("192.0.2.0/24", "::192.0.2.9"));
    EXPECT_FALSE(contains_socket("192.0.2.0/24", "2001:db8::c000:209"));
    // An IPv6 network written over the mapped range still matches as IPv6.
    EXPECT_TRUE(contains_socket("::ffff:0:0/96", "::ffff:10.1.2.3"));
    EXPECT_FALSE(contains_socket("::ffff:0:0/96", "10.1.2.3"));
}

TEST(Cidr, BoundaryPrefixes) {
    // /0 holds every address of its family (and mapped IPv4 for the IPv4 one), nothing else.
    EXPECT_TRUE(contains_socket("0.0.0.0/0", "0.0.0.0"));
    EXPECT_TRUE(contains_socket("0.0.0.0/0", "255.255.255.255"));
    EXPECT_TRUE(contains_socket("0.0.0.0/0", "::ffff:203.0.113.1"));
    EXPECT_FALSE(contains_socket("0.0.0.0/0", "2001:db8::1"));
    EXPECT_TRUE(contains_socket("::/0", "2001:db8::1"));
    EXPECT_TRUE(contains_socket("::/0", "::ffff:203.0.113.1"));
    EXPECT_FALSE(contains_socket("::/0", "203.0.113.1"));
    // /32 and /128: one address; the neighbours on either side are out.
    EXPECT_TRUE(contains_socket("198.51.100.7/32", "198.51.100.7"));
    EXPECT_FALSE(contains_socket("198.51.100.7/32", "198.51.100.6"));
    EXPECT_FALSE(contains_socket("198.51.100.7/32", "198.51.100.8"));
    EXPECT_TRUE(contains_socket("2001:db8::7/128", "2001:db8::7"));
    EXPECT_FALSE(contains_socket("2001:db8::7/128", "2001:db8::6"));
    EXPECT_FALSE(contains_socket("2001:db8::7/128", "2001:db8::8"));
    // Prefixes not on a byte boundary, either side of the boundary.
    EXPECT_TRUE(contains_socket("10.64.0.0/10", "10.127.255.255"));
    EXPECT_FALSE(contains_socket("10.64.0.0/10", "10.128.0.0"));
    EXPECT_FALSE(contains_socket("10.64.0.0/10", "10.63.255.255"));
    EXPECT_TRUE(contains_socket("2001:db8:8000::/33", "2001:db8:8000::"));
    EXPECT_FALSE(contains_socket("2001:db8:8000::/33", "2001:db8:7fff:ffff::"));
}

TEST(Cidr, ManyNetworksAdmitExactlyTheirMembers) {
    // 128 disjoint /24s (10.0.0.0/24, 10.2.0.0/24, ...): each address is admitted by one network
    // at most, and only when its second byte is even and its third is 0.
    std::vector<Cidr> networks;
    for (int second = 0; second < 256; second += 2) {
        networks.push_back(Cidr::parse("10." + std::to_string(second) + ".0.0/24").value());
    }
    networks.push_back(Cidr::parse("2001:db8::/48").value());
    for (int second = 0; second < 256; ++second) {
        for (int third : {0, 1, 255}) {
            std::string ip = "10." + std::to_string(second) + "." + std::to_string(third) + ".77";
            sockaddr_in address = ipv4_socket(ip.c_str());
            auto matches = std::count_if(networks.begin(), networks.end(), [&](const Cidr& n) {
                return n.contains(reinterpret_cast<const sockaddr*>(&address));
            });
            EXPECT_EQ(matches, (second % 2 == 0 && third == 0) ? 1 : 0) << ip;
        }
    }
    sockaddr_in6 inside = ipv6_socket("2001:db8:0:ffff::1");
    sockaddr_in6 outside = ipv6_socket("2001:db8:1::1");
    auto admitted = [&](const sockaddr_in6& address) {
        return std::any_of(networks.begin(), networks.end(), [&](const Cidr& n) {
            return n.contains(reinterpret_cast<const sockaddr*>(&address));
        });
    };
    EXPECT_TRUE(admitted(inside));
    EXPECT_FALSE(admitted(outside));
}

TEST(Cidr, OtherSocketFamiliesAreNeverContained) {
    sockaddr unix_address{};
    unix_address.sa_family = AF_UNIX;
    EXPECT_FALSE(Cidr::parse("0.0.0.0/0").value().contains(&unix_address));
    EXPECT_FALSE(Cidr::parse("::/0").value().contains(&unix_address));
}

}  // namespace
}  // namespace relay::config
