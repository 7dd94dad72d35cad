// tls_policy.h -- which outbound TLS policy applies to a destination, decided in one place.
//
// Inputs: the configured `tls` of the destination (a [[route]], else the longest matching
// [[shaping]] rule, else [delivery]), whether MTA-STS lookups are on for it ([delivery] mta_sts
// and the [[shaping]] rule's mta_sts), and the destination's MTA-STS policy if it has one.
// Output: the policy that applies, what a connection must check, and which MX hosts it may use.
//
//   configured      MTA-STS policy      applies            connection
//   none            (not looked up)     none               plaintext
//   opportunistic   none found / none   opportunistic      STARTTLS if offered, unverified
//   opportunistic   testing             mta_sts_testing    as opportunistic; failures counted
//   opportunistic   enforce             mta_sts_enforce    verified TLS to a policy MX only
//   required        none / testing      required           verified TLS (chain and MX name)
//   required        enforce             mta_sts_enforce    verified TLS to a policy MX only
//   mta_sts         testing / enforce   mta_sts_enforce    verified TLS to a policy MX only
//   mta_sts         none found          (deferred: the operator asked for a policy)
//
// DANE (RFC 7672 §2.2, "DANE takes precedence") slots in ahead of MTA-STS: a destination with
// usable TLSA records gets AppliedTls::dane, whatever its MTA-STS policy says.
//
// Pure. Thread: any.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relay/config/config.h"
#include "relay/sts/policy.h"

namespace relay::delivery {

enum class AppliedTls : std::uint8_t {
    none,
    opportunistic,
    required,
    mta_sts_testing,
    mta_sts_enforce,
    dane,
};

// "none", "opportunistic", "required", "mta-sts-testing", "mta-sts-enforce", "dane": the log's
// and the queue's words.
std::string_view applied_tls_name(AppliedTls applied);

struct TlsDecision {
    AppliedTls applied = AppliedTls::opportunistic;
    std::optional<sts::Policy> sts;  // the MTA-STS policy in force (testing or enforce)
    std::string refusal;             // non-empty: no delivery may be tried; defer with this

    bool try_starttls() const { return applied != AppliedTls::none; }
    // The connection fails unless TLS comes up with a verified chain and name.
    bool verified_tls_required() const {
        return applied == AppliedTls::required || applied == AppliedTls::mta_sts_enforce ||
               applied == AppliedTls::dane;
    }
    // Whether the MX host may be used at all (enforce: only the policy's mx patterns).
    bool host_allowed(std::string_view host) const;
    // Whether MTA-STS counts this destination's sessions (RFC 8460 "sts" policy type).
    bool reported() const {
        return applied == AppliedTls::mta_sts_testing || applied == AppliedTls::mta_sts_enforce;
    }
};

// `sts`: the domain's MTA-STS policy when it has one in force (mode testing or enforce); nullopt
// when MTA-STS is off for the destination, none was found, or its mode is none.
TlsDecision decide_tls(config::TlsPolicy configured, const std::string& domain,
                       const std::optional<sts::Policy>& sts);

}  // namespace relay::delivery
