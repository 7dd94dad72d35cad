// fetch.h -- one HTTPS GET of https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.3).
//
// libcurl (Debian's GnuTLS build: no second OpenSSL next to wolfSSL in relayd) with the server
// certificate verified against `ca_file` only and the name checked against mta-sts.<domain>;
// no redirects (§3.3: "MUST NOT follow"), HTTPS only, a bounded body, a bounded time. The
// host's addresses come from the caller (delivery's resolver), so the fetch asks the same DNS
// as delivery and never the system resolver.
//
// Blocks for up to timeout_s: run it on the policy service's thread, never on a worker.
// Untrusted bytes: the server's answer (bounded by policy_bytes_max, parsed by parse_policy).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relay/sts/tls_report.h"

namespace relay::sts {

struct FetchRequest {
    std::string domain;                  // the policy domain, lower case
    std::vector<std::string> addresses;  // of mta-sts.<domain>, as text
    std::uint16_t port = 443;
    std::string ca_file;
    std::uint32_t timeout_s = 10;
};

struct FetchOutcome {
    bool ok = false;
    std::string body;      // when ok: the policy text (<= policy_bytes_max)
    ResultType failure{};  // when not ok: sts-policy-fetch-error or sts-webpki-invalid
    std::string reason;    // when not ok: one line for the log
};

FetchOutcome fetch_policy_text(const FetchRequest& request);

}  // namespace relay::sts
