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

DaneInput dane(DaneState state) {
    return DaneInput{state, "mx.example.com",
                     "DNS lookup of TLSA for _25._tcp.mx.example.com: SERVFAIL"};
}

TEST(TlsDecision, DaneComesBeforeMtaStsAndTheConfiguredTls) {
    for (TlsPolicy configured : {TlsPolicy::none, TlsPolicy::opportunistic, TlsPolicy::required,
                                 TlsPolicy::mta_sts, TlsPolicy::dane}) {
        for (DaneState state : {DaneState::verify, DaneState::encrypt}) {
            TlsDecision decision =
                decide_tls(configured, "d", policy(sts::Mode::enforce), dane(state));
            EXPECT_EQ(decision.applied, AppliedTls::dane);
            EXPECT_TRUE(decision.refusal.empty());
            EXPECT_TRUE(decision.try_starttls());
            EXPECT_TRUE(decision.verified_tls_required());
            EXPECT_EQ(decision.policy_type(), sts::PolicyType::tlsa);
            EXPECT_TRUE(decision.reported());
            // The MTA-STS mx patterns do not bind a DANE host.
            EXPECT_TRUE(decision.host_allowed("mx.attacker.example"));
            EXPECT_EQ(decision.sts, std::nullopt);
        }
    }
    // Under tls = "mta-sts", a DANE host needs no MTA-STS policy.
    EXPECT_TRUE(
        decide_tls(TlsPolicy::mta_sts, "d", std::nullopt, dane(DaneState::verify)).refusal.empty());
}

TEST(TlsDecision, AFailedTlsaLookupKeepsTheHostOut) {
    TlsDecision decision =
        decide_tls(TlsPolicy::opportunistic, "d", std::nullopt, dane(DaneState::failed));
    EXPECT_NE(decision.refusal.find("SERVFAIL; mx.example.com is not tried"), std::string::npos)
        << decision.refusal;
    EXPECT_EQ(decision.refusal_failure, sts::ResultType::dnssec_invalid);
}

TEST(TlsDecision, DemandedDaneRefusesAHostWithoutRecordsAndIsOpportunisticWhenOff) {
    DaneInput without{DaneState::none, "mx.example.com", ""};
    TlsDecision refused = decide_tls(TlsPolicy::dane, "d", std::nullopt, without);
    EXPECT_NE(refused.refusal.find("DANE is required"), std::string::npos);
    EXPECT_NE(refused.refusal.find("mx.example.com"), std::string::npos);
    EXPECT_EQ(refused.refusal_failure, sts::ResultType::dane_required);
    // Without records, the other policies decide as before DANE.
    EXPECT_EQ(
        decide_tls(TlsPolicy::opportunistic, "d", policy(sts::Mode::enforce), without).applied,
        AppliedTls::mta_sts_enforce);
    EXPECT_EQ(decide_tls(TlsPolicy::none, "d", std::nullopt, without).applied, AppliedTls::none);
    // [[shaping]] dane = false: tls = "dane" means opportunistic, and MTA-STS still applies.
    DaneInput off{DaneState::off, "mx.example.com", ""};
    EXPECT_EQ(decide_tls(TlsPolicy::dane, "d", std::nullopt, off).applied,
              AppliedTls::opportunistic);
    EXPECT_EQ(decide_tls(TlsPolicy::dane, "d", policy(sts::Mode::testing), off).applied,
              AppliedTls::mta_sts_testing);
}

}  // namespace
}  // namespace relay::delivery
