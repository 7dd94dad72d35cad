// signature.h -- builds and signs the DKIM-Signature header field (RFC 6376 §3.5, §5).
//
// The tags, in this order: v=1; a=; c=header/body; d=; s=; t=; x= (when set); h=; bh=; b=.
// No l= (a body length limit lets anyone append to the message) and no i= (it defaults to
// @d, RFC 6376 §3.5). The field is folded with CRLF SP so that its lines stay within 78
// octets where a tag allows it (h= folds after a colon, b= anywhere; RFC 6376 §3.5 allows FWS in
// both).
//
// Untrusted bytes: the header fields; the domain and selector come from the configuration.
// Thread: the caller's; signing RSA-2048 costs about half a millisecond, so the caller decides
// where it runs. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"
#include "relay/dkim/body_hash.h"
#include "relay/dkim/key.h"

namespace relay::dkim {

struct SignatureSpec {
    Algorithm algorithm = Algorithm::rsa_sha256;
    Canonicalization header_canonicalization = Canonicalization::relaxed;
    Canonicalization body_canonicalization = Canonicalization::relaxed;
    std::string domain;                           // d=
    std::string selector;                         // s=
    std::int64_t timestamp_s = 0;                 // t=, seconds since the Unix epoch
    std::optional<std::int64_t> expiration_s;     // x=, absolute; later than t=
    std::vector<std::string> signed_field_names;  // h=, as choose_signed_fields gives it
};

// The field without its b= value and without a final CRLF: "DKIM-Signature: v=1; ... b=".
std::string signature_field_without_b(const SignatureSpec& spec, const Sha256Digest& body_hash);

// Appends the b= value to a field from signature_field_without_b, folded, and the final CRLF.
std::string complete_signature_field(std::string field_without_b,
                                     std::span<const std::uint8_t> signature);

// The whole DKIM-Signature field (with its CRLF) over `fields` (the header fields as sent, top
// first) and the body hash from a BodyHasher of spec.body_canonicalization. The key's algorithm
// must be spec.algorithm.
Result<std::string> sign_message(PrivateKey& key, const SignatureSpec& spec,
                                 std::span<const std::string_view> fields,
                                 const Sha256Digest& body_hash);

}  // namespace relay::dkim
