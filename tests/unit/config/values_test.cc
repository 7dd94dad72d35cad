// values_test.cc -- host names, "HOST:PORT" endpoints and CIDR networks, at their boundaries.
#include "relay/config/values.h"

#include <gtest/gtest.h>

#include <string>

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
    EXPECT_FALSE(network.contains("::ffff:192.0.2.200"));  // another family
    EXPECT_FALSE(network.contains("not an address"));
    EXPECT_TRUE(Cidr::parse("0.0.0.0/0").value().contains("203.0.113.9"));
    Cidr v6 = Cidr::parse("2001:db8:8000::/33").value();
    EXPECT_TRUE(v6.contains("2001:db8:ffff::1"));
    EXPECT_FALSE(v6.contains("2001:db8:7fff::1"));
    EXPECT_FALSE(v6.contains("10.0.0.1"));
}

}  // namespace
}  // namespace relay::config
