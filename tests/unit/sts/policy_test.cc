// The MTA-STS TXT record and policy parsers (RFC 8461 §3.1-3.2) and MX patterns (§4.1).
#include "relay/sts/policy.h"

#include <gtest/gtest.h>

namespace relay::sts {
namespace {

TEST(StsPolicy, ParsesTheRfcExample) {
    auto policy = parse_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
        "mx: backupmx.example.com\r\nmax_age: 604800\r\n");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->mode, Mode::enforce);
    EXPECT_EQ(policy->max_age_s, 604800u);
    EXPECT_EQ(policy->mx, (std::vector<std::string>{"mail.example.com", "*.example.net",
                                                    "backupmx.example.com"}));
}

TEST(StsPolicy, AcceptsBareLineFeedsBlanksAndUnknownKeys) {
    auto policy = parse_policy(
        "version:STSv1\nmode:   testing \nmx: MX.Example.COM.\n"
        "extension: whatever\n\nmax_age: 0\n");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->mode, Mode::testing);
    EXPECT_EQ(policy->max_age_s, 0u);
    EXPECT_EQ(policy->mx, std::vector<std::string>{"mx.example.com"});
}

TEST(StsPolicy, TheFirstOfARepeatedKeyCounts) {
    auto policy =
        parse_policy("version: STSv1\nmode: none\nmode: enforce\nmax_age: 60\nmax_age: 99999\n");
    ASSERT_TRUE(policy) << policy.error().message;
    EXPECT_EQ(policy->mode, Mode::none);
    EXPECT_EQ(policy->max_age_s, 60u);
    EXPECT_TRUE(policy->mx.empty());  // a none policy needs no mx
}

TEST(StsPolicy, RefusesWhatTheRfcDoesNotAllow) {
    struct Case {
        const char* text;
        const char* error;
    };
    const Case cases[] = {
        {"mode: enforce\nmx: a.example\nmax_age: 1\n", "version is missing"},
        {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version is not STSv1"},
        {"version: STSv1\nmx: a.example\nmax_age: 1\n", "mode is missing"},
        {"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "mode is not"},
        {"version: STSv1\nmode: enforce\nmx: a.example\n", "max_age is missing"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "max_age is not"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n", "max_age is not"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", "max_age is not"},
        {"version: STSv1\nmode: enforce\nmax_age: 86400\n", "no mx"},
        {"version: STSv1\nmode: testing\nmx: bad host\nmax_age: 86400\n", "an mx pattern"},
        {"version: STSv1\nmode: testing\nmx: a..example\nmax_age: 86400\n", "an mx pattern"},
        {"version: STSv1\nmode: testing\nmx: *\nmax_age: 86400\n", "an mx pattern"},
        {"version: STSv1\nmode enforce\n", "is not \"key: value\""},
    };
    for (const Case& item : cases) {
        auto policy = parse_policy(item.text);
        ASSERT_FALSE(policy) << item.text;
        EXPECT_NE(policy.error().message.find(item.error), std::string::npos)
            << item.text << " -> " << policy.error().message;
    }
}

TEST(StsPolicy, BoundsSizeLinesAndPatterns) {
    std::string big = "version: STSv1\nmode: enforce\nmax_age: 1\n";
    big += std::string(policy_bytes_max, '\n');
    EXPECT_FALSE(parse_policy(big));
    EXPECT_FALSE(parse_policy("version: STSv1\nx: " + std::string(policy_line_bytes_max, 'a')));
    std::string many = "version: STSv1\nmode: enforce\nmax_age: 1\n";
    for (std::size_t index = 0; index <= policy_mx_max; ++index) {
        many += "mx: mx" + std::to_string(index) + ".example\n";
    }
    EXPECT_FALSE(parse_policy(many));
}

TEST(StsTxt, FindsTheIdOfTheOneStsRecord) {
    EXPECT_EQ(policy_id_from_txt({"v=STSv1; id=20160831085700Z;"}), "20160831085700Z");
    EXPECT_EQ(policy_id_from_txt({"v=STSv1;id=abc"}), "abc");
    EXPECT_EQ(policy_id_from_txt({"v=spf1 -all", "v=STSv1; ext=1; id=x1 ;"}), "x1");
}

TEST(StsTxt, NoneTwoOrInvalidRecordsMeanNoPolicy) {
    EXPECT_EQ(policy_id_from_txt({}), std::nullopt);
    EXPECT_EQ(policy_id_from_txt({"v=spf1 -all"}), std::nullopt);
    EXPECT_EQ(policy_id_from_txt({"v=STSv1; id=a", "v=STSv1; id=b"}), std::nullopt);
    EXPECT_EQ(policy_id_from_txt({"v=STSv1;"}), std::nullopt);         // no id
    EXPECT_EQ(policy_id_from_txt({"v=STSv1; id=a-b"}), std::nullopt);  // not alnum
    EXPECT_EQ(policy_id_from_txt({"v=STSv1; id=" + std::string(33, 'a')}), std::nullopt);
    EXPECT_EQ(policy_id_from_txt({"v=STSv1 id=abc"}), std::nullopt);    // no delimiter
    EXPECT_EQ(policy_id_from_txt({" v=STSv1; id=abc"}), std::nullopt);  // must start so
}

TEST(StsMx, PlainPatternsMatchTheWholeNameIgnoringCase) {
    EXPECT_TRUE(mx_pattern_matches("mail.example.com", "mail.example.com"));
    EXPECT_TRUE(mx_pattern_matches("mail.example.com", "MAIL.Example.com."));
    EXPECT_FALSE(mx_pattern_matches("mail.example.com", "mail.example.co"));
    EXPECT_FALSE(mx_pattern_matches("mail.example.com", "xmail.example.com"));
}

TEST(StsMx, AWildcardStandsForExactlyOneLeftmostLabel) {
    EXPECT_TRUE(mx_pattern_matches("*.example.net", "mx1.example.net"));
    EXPECT_TRUE(mx_pattern_matches("*.example.net", "MX1.EXAMPLE.NET."));
    EXPECT_FALSE(mx_pattern_matches("*.example.net", "example.net"));
    EXPECT_FALSE(mx_pattern_matches("*.example.net", "a.mx1.example.net"));
    EXPECT_FALSE(mx_pattern_matches("*.example.net", "mx1.badexample.net"));
    EXPECT_FALSE(mx_pattern_matches("*.example.net", ".example.net"));
}

TEST(StsMx, APolicyAllowsTheHostsOfItsPatterns) {
    Policy policy{Mode::enforce, {"mail.example.com", "*.example.net"}, 86400};
    EXPECT_TRUE(policy_allows_host(policy, "mail.example.com"));
    EXPECT_TRUE(policy_allows_host(policy, "b.example.net"));
    EXPECT_FALSE(policy_allows_host(policy, "evil.example.org"));
}

}  // namespace
}  // namespace relay::sts
