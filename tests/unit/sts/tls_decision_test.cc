// Delivery's outbound TLS decision table (delivery/tls_policy.h).
#include <gtest/gtest.h>

#include "relay/delivery/tls_policy.h"

namespace relay::delivery {
namespace {

using config::TlsPolicy;

sts::Policy policy(sts::Mode mode) {
    return sts::Policy{mode, {"mx.example.com", "*.example.net"}, 86400};
}

TEST(TlsDecision, WithoutAPolicyTheConfiguredTlsApplies) {
    EXPECT_EQ(decide_tls(TlsPolicy::none, "d", std::nullopt).applied, AppliedTls::none);
    EXPECT_EQ(decide_tls(TlsPolicy::opportunistic, "d", std::nullopt).applied,
              AppliedTls::opportunistic);
    EXPECT_EQ(decide_tls(TlsPolicy::required, "d", std::nullopt).applied, AppliedTls::required);
    EXPECT_FALSE(decide_tls(TlsPolicy::none, "d", std::nullopt).try_starttls());
    EXPECT_TRUE(decide_tls(TlsPolicy::required, "d", std::nullopt).verified_tls_required());
    EXPECT_FALSE(decide_tls(TlsPolicy::opportunistic, "d", std::nullopt).verified_tls_required());
}

TEST(TlsDecision, AnEnforcedPolicyDemandsVerifiedTlsToItsMxHosts) {
    for (TlsPolicy configured :
         {TlsPolicy::opportunistic, TlsPolicy::required, TlsPolicy::mta_sts}) {
        TlsDecision decision = decide_tls(configured, "d", policy(sts::Mode::enforce));
        EXPECT_EQ(decision.applied, AppliedTls::mta_sts_enforce);
        EXPECT_TRUE(decision.verified_tls_required());
        EXPECT_TRUE(decision.reported());
        EXPECT_TRUE(decision.host_allowed("mx.example.com"));
        EXPECT_TRUE(decision.host_allowed("b.example.net"));
        EXPECT_FALSE(decision.host_allowed("mx.attacker.example"));
    }
}

TEST(TlsDecision, TestingModeDeliversAsBeforeAndReports) {
    TlsDecision decision = decide_tls(TlsPolicy::opportunistic, "d", policy(sts::Mode::testing));
    EXPECT_EQ(decision.applied, AppliedTls::mta_sts_testing);
    EXPECT_FALSE(decision.verified_tls_required());
    EXPECT_TRUE(decision.try_starttls());
    EXPECT_TRUE(decision.reported());
    EXPECT_TRUE(decision.host_allowed("mx.attacker.example"));
    EXPECT_EQ(decide_tls(TlsPolicy::required, "d", policy(sts::Mode::testing)).applied,
              AppliedTls::required);
}

TEST(TlsDecision, NoneTurnsEverythingOffAndMtaStsDemandsAPolicy) {
    EXPECT_EQ(decide_tls(TlsPolicy::none, "d", policy(sts::Mode::enforce)).applied,
              AppliedTls::none);
    TlsDecision demanded = decide_tls(TlsPolicy::mta_sts, "example.org", std::nullopt);
    EXPECT_NE(demanded.refusal.find("example.org"), std::string::npos);
    EXPECT_EQ(decide_tls(TlsPolicy::mta_sts, "d", policy(sts::Mode::testing)).applied,
              AppliedTls::mta_sts_enforce);
}

}  // namespace
}  // namespace relay::delivery
