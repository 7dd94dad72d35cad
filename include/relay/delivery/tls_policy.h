// tls_policy.h -- which outbound TLS policy applies to a destination, decided in one place.
//
// Inputs: the configured `tls` of the destination (a [[route]], else the longest matching
// [[shaping]] rule, else [delivery]), whether MTA-STS lookups are on for it ([delivery] mta_sts
// and the [[shaping]] rule's mta_sts), the destination's MTA-STS policy if it has one, and what
// DANE says of the MX host about to be tried (its DNSSEC-validated TLSA records).
// Output: the policy that applies, what a connection must check, and which MX hosts it may use.
//
// DANE comes first (RFC 7672 §2.2, RFC 8461 §2: "DANE takes precedence"). A host with validated
// TLSA records gets AppliedTls::dane whatever is configured (even `none`) and whatever its
// domain's MTA-STS policy says; a host whose TLSA lookup failed on a validated path is not
// tried; `dane` configured refuses a host without usable records. Otherwise:
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
//   dane            (DANE off for it)   as opportunistic   ([[shaping]] dane = false)
//
// Pure. Thread: any.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relay/config/config.h"
#include "relay/sts/policy.h"
#include "relay/sts/tls_report.h"

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

// What DANE says of one MX host (RFC 7672 §2.2), from its TLSA lookup (dane_policy.cc).
enum class DaneState : std::uint8_t {
    off,      // DANE is not used for the destination ([delivery] dane, [[shaping]] dane)
    none,     // no validated TLSA records: denied, insecure, or insecure MX or addresses
    encrypt,  // validated records, none usable: TLS mandatory, not authenticated
    verify,   // usable validated records: TLS mandatory, the chain must match one
    failed,   // the TLSA lookup failed on a validated path: the host must not be used
};

struct DaneInput {
    DaneState state = DaneState::off;
    std::string_view host;    // the MX host
    std::string_view reason;  // why none or failed, one line
};

struct TlsDecision {
    AppliedTls applied = AppliedTls::opportunistic;
    std::optional<sts::Policy> sts;  // the MTA-STS policy in force (testing or enforce)
    std::string refusal;             // non-empty: no delivery may be tried; defer with this
    std::optional<sts::ResultType> refusal_failure;  // what the refusal counts as (RFC 8460)

    bool try_starttls() const { return applied != AppliedTls::none; }
    // The connection fails unless TLS comes up with a verified chain and name.
    bool verified_tls_required() const {
        return applied == AppliedTls::required || applied == AppliedTls::mta_sts_enforce ||
               applied == AppliedTls::dane;
    }
    // Whether the MX host may be used at all (enforce: only the policy's mx patterns).
    bool host_allowed(std::string_view host) const;
    // Whether the sessions are counted for TLS reporting: under MTA-STS (RFC 8460 policy type
    // "sts") or DANE ("tlsa").
    bool reported() const {
        return applied == AppliedTls::mta_sts_testing || applied == AppliedTls::mta_sts_enforce ||
               applied == AppliedTls::dane;
    }
    sts::PolicyType policy_type() const {
        return applied == AppliedTls::dane ? sts::PolicyType::tlsa : sts::PolicyType::sts;
    }
};

// `sts`: the domain's MTA-STS policy when it has one in force (mode testing or enforce); nullopt
// when MTA-STS is off for the destination, none was found, or its mode is none. `dane`: the MX
// host's DANE state; off when no host is chosen yet.
TlsDecision decide_tls(config::TlsPolicy configured, const std::string& domain,
                       const std::optional<sts::Policy>& sts, const DaneInput& dane = {});

}  // namespace relay::delivery
