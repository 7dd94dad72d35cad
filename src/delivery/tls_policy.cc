// tls_policy.cc -- the outbound TLS decision table of tls_policy.h.
//
// Pure. Thread: any. RFC 8461 §4 (policy application), §5 (enforce vs testing); RFC 7672 §2.2
// (DANE's chain of trust and its precedence), RFC 8460 §4.3.2.1 (DANE failure types).
#include "relay/delivery/tls_policy.h"

namespace relay::delivery {

std::string_view applied_tls_name(AppliedTls applied) {
    switch (applied) {
        case AppliedTls::none:
            return "none";
        case AppliedTls::opportunistic:
            return "opportunistic";
        case AppliedTls::required:
            return "required";
        case AppliedTls::mta_sts_testing:
            return "mta-sts-testing";
        case AppliedTls::mta_sts_enforce:
            return "mta-sts-enforce";
        case AppliedTls::dane:
            return "dane";
    }
    return "?";
}

bool TlsDecision::host_allowed(std::string_view host) const {
    if (applied != AppliedTls::mta_sts_enforce || !sts) {
        return true;
    }
    return sts::policy_allows_host(*sts, host);
}

namespace {

// DANE first: nullopt when it leaves the decision to the configured policy and MTA-STS.
std::optional<TlsDecision> decide_dane(config::TlsPolicy configured, const DaneInput& dane) {
    TlsDecision decision;
    decision.applied = AppliedTls::dane;
    switch (dane.state) {
        case DaneState::encrypt:
        case DaneState::verify:
            return decision;
        case DaneState::failed:
            // An attacker can make a lookup fail: the host is not used at all (RFC 7672 §2.2).
            decision.refusal = "DANE: " + std::string(dane.reason) + "; " + std::string(dane.host) +
                               " is not tried";
            decision.refusal_failure = sts::ResultType::dnssec_invalid;
            return decision;
        case DaneState::none:
            if (configured != config::TlsPolicy::dane) {
                return std::nullopt;
            }
            decision.refusal = "DANE is required (tls = \"dane\") but " +
                               (dane.reason.empty() ? "no DNSSEC-validated TLSA records for " +
                                                          std::string(dane.host)
                                                    : std::string(dane.reason));
            decision.refusal_failure = sts::ResultType::dane_required;
            return decision;
        case DaneState::off:
            return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

TlsDecision decide_tls(config::TlsPolicy configured, const std::string& domain,
                       const std::optional<sts::Policy>& sts, const DaneInput& dane) {
    if (std::optional<TlsDecision> by_dane = decide_dane(configured, dane)) {
        return *by_dane;
    }
    TlsDecision decision;
    bool enforce = sts && sts->mode == sts::Mode::enforce;
    bool testing = sts && sts->mode == sts::Mode::testing;
    switch (configured) {
        case config::TlsPolicy::none:
            decision.applied = AppliedTls::none;
            return decision;
        case config::TlsPolicy::dane:  // DANE is off for the destination: as before DANE
        case config::TlsPolicy::opportunistic:
            decision.applied = enforce   ? AppliedTls::mta_sts_enforce
                               : testing ? AppliedTls::mta_sts_testing
                                         : AppliedTls::opportunistic;
            break;
        case config::TlsPolicy::required:
            decision.applied = enforce ? AppliedTls::mta_sts_enforce : AppliedTls::required;
            break;
        case config::TlsPolicy::mta_sts:
            // The operator demands MTA-STS: a testing policy is held to enforce, and a domain
            // without one waits until it publishes one (or the operator changes the rule).
            if (!enforce && !testing) {
                decision.applied = AppliedTls::mta_sts_enforce;
                decision.refusal = "tls = \"mta-sts\" is configured for " + domain +
                                   ", which publishes no MTA-STS policy";
                return decision;
            }
            decision.applied = AppliedTls::mta_sts_enforce;
            break;
    }
    if (decision.reported()) {
        decision.sts = sts;
    }
    return decision;
}

}  // namespace relay::delivery
