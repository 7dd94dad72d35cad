// certificate.h -- a self-signed server certificate for relayd's first start.
//
// relayd writes one when its configured certificate does not exist yet, so that a newcomer's
// `swaks --tls` works at once. The key is ECDSA P-256: generated in about a millisecond (an
// RSA-2048 key takes 50-500 ms), 20-40 times cheaper than RSA-2048 to sign with in each
// handshake, and accepted by every TLS 1.2 and 1.3 client. The certificate is X.509 v3
// (RFC 5280) signed with ecdsa-with-SHA256: subject CN = the host name, subjectAltName dNSName =
// the host name (RFC 6125 section 6.4.4: clients check the SAN), keyUsage digitalSignature,
// extKeyUsage serverAuth, CA:FALSE, a random 16-byte serial and a subject key identifier.
// Clients can still trust it explicitly (as a CA file): OpenSSL and wolfSSL accept a self-signed
// leaf as its own trust anchor.
//
// Untrusted bytes: none.
// Threads: start-up only; it writes files with blocking calls and must never run on a worker.
// Never: leave a partial file behind (both files are written beside their target and renamed),
// or make the key readable by anyone but its owner (mode 0600, whatever the umask).
#pragma once

#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::tls {

inline constexpr int certificate_days_max = 3650;

// Writes a PEM private key ("EC PRIVATE KEY", mode 0600) to key_path and a PEM certificate
// (mode 0644) to cert_path, valid from now for `days` days (1 to certificate_days_max). The host
// name must be a DNS name of at most 253 characters, each label 1-63 of [A-Za-z0-9-]; it is the
// CN when it fits the 64 characters X.520 allows, and the subjectAltName always.
Status generate_self_signed(std::string_view host_name, const std::string& key_path,
                            const std::string& cert_path, int days);

}  // namespace relay::tls
