// tls_policy.cc -- the outbound TLS decision table of tls_policy.h.
//
// Pure. Thread: any. RFC 8461 §4 (policy application), §5 (enforce vs testing).
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

TlsDecision decide_tls(config::TlsPolicy configured, const std::string& domain,
                       const std::optional<sts::Policy>& sts) {
    TlsDecision decision;
    bool enforce = sts && sts->mode == sts::Mode::enforce;
    bool testing = sts && sts->mode == sts::Mode::testing;
    switch (configured) {
        case config::TlsPolicy::none:
            decision.applied = AppliedTls::none;
            return decision;
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
