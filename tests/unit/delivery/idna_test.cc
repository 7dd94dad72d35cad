// Internationalised domains become A-labels for DNS; invalid ones are refused.
#include "relay/delivery/idna.h"

#include <gtest/gtest.h>

#include "relay/delivery/mx_plan.h"

namespace relay::delivery {
namespace {

TEST(Idna, Utf8DomainsBecomeALabels) {
    EXPECT_EQ(domain_to_ascii("bücher.example"), "xn--bcher-kva.example");
    EXPECT_EQ(domain_to_ascii("例子.广告"), "xn--fsqu00a.xn--4rr70v");
    // NFC normalisation: "u" + combining diaeresis is the same name.
    EXPECT_EQ(domain_to_ascii("bu\xCC\x88"
                              "cher.example"),
              "xn--bcher-kva.example");
}

TEST(Idna, AsciiIsOnlyLowerCased) {
    EXPECT_EQ(domain_to_ascii("Example.NET"), "example.net");
    EXPECT_EQ(domain_to_ascii("[192.0.2.1]"), "[192.0.2.1]");
}

TEST(Idna, InvalidNamesAreRefused) {
    EXPECT_FALSE(
        domain_to_ascii("bad\xFF"
                        "domain.example"));  // not UTF-8
    std::string long_label;
    for (int index = 0; index < 70; ++index) {
        long_label += "\xC3\xBC";  // 70 x "ü": more than 63 octets as an A-label
    }
    EXPECT_FALSE(domain_to_ascii(long_label + ".example"));
    // What libidn2 lets through, the DNS name check refuses: the recipient fails for good.
    auto ascii = domain_to_ascii("b\xC3\xBC..example");
    auto plan = plan_hosts_without_dns(ascii.value_or("b\xC3\xBC..example"));
    ASSERT_TRUE(plan);
    ASSERT_FALSE(plan->ok());
    EXPECT_TRUE(plan->failure->permanent);
}

TEST(Idna, AddressLiteralsSurviveLowerCasing) {
    auto plan = plan_hosts_without_dns(*domain_to_ascii("[IPv6:2001:db8::1]"));
    ASSERT_TRUE(plan);
    ASSERT_TRUE(plan->ok());
    ASSERT_EQ(plan->hosts.size(), 1u);
    EXPECT_TRUE(plan->hosts[0].literal_address.has_value());
}

}  // namespace
}  // namespace relay::delivery
