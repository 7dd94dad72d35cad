// key.h -- DKIM signing keys: loading, generation, the DNS record that publishes them, signing.
//
// Two algorithms: rsa-sha256 (RFC 6376 §3.3.1, RSASSA-PKCS1-v1_5 over SHA-256; RFC 8301: at
// least 1024 bits to load, 2048 generated) and ed25519-sha256 (RFC 8463: Ed25519 over the SHA-256
// digest of the signed headers). Keys are read from PEM or DER: an RSA key as PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), an Ed25519 key as PKCS#8. Encrypted PEM is
// refused (relayd keeps keys readable by itself only; it has no passphrase to ask for).
// Generated keys are written as PKCS#1 PEM (RSA, what OpenDKIM's tools write) and PKCS#8 PEM
// (Ed25519).
//
// Untrusted bytes: key files an operator hands in; bad ones are errors, never crashes.
// Thread: a PrivateKey signs on one thread at a time (it owns a random generator for RSA
// blinding); give each signing thread its own copy from load(). Pure: no files, no sockets.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"

namespace relay::dkim {

enum class Algorithm : std::uint8_t { rsa_sha256, ed25519_sha256 };

// The a= value: "rsa-sha256" or "ed25519-sha256".
std::string_view algorithm_name(Algorithm algorithm);
// The k= value of the key record: "rsa" or "ed25519".
std::string_view key_type_name(Algorithm algorithm);

class PrivateKey {
  public:
    // PEM (the first key block of the text) or DER, detected from the bytes.
    static Result<PrivateKey> load(std::string_view pem_or_der);
    // A new key: RSA-2048 (exponent 65537) or Ed25519.
    static Result<PrivateKey> generate(Algorithm algorithm);

    PrivateKey(PrivateKey&&) noexcept;
    PrivateKey& operator=(PrivateKey&&) noexcept;
    ~PrivateKey();

    Algorithm algorithm() const;
    // RSA modulus size, or 256 for Ed25519.
    int bits() const;
    // The p= value: base64 of the SubjectPublicKeyInfo DER (RSA) or of the 32-octet public key
    // (Ed25519, RFC 8463 §4.2).
    std::string public_key_base64() const;
    // The private key as PEM (PKCS#1 for RSA, PKCS#8 for Ed25519), lines of 64 characters.
    Result<std::string> to_pem() const;
    // Signs the SHA-256 digest of the canonical signed headers: 256 octets for RSA-2048, 64 for
    // Ed25519.
    Result<std::vector<std::uint8_t>> sign(const std::array<std::uint8_t, 32>& header_hash);

  private:
    struct State;  // wolfCrypt's key and random generator, defined in key.cc
    explicit PrivateKey(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// The TXT record to publish, in zone-file form:
//   SELECTOR._domainkey.DOMAIN. IN TXT "v=DKIM1; k=rsa; p=..." "..."
// with the record text cut into quoted strings of at most 255 octets (RFC 1035 §3.3.14; RFC 6376
// §3.6.2.2 joins them without spaces).
std::string dns_txt_record(std::string_view selector, std::string_view domain,
                           const PrivateKey& key);

// What `relayctl dkim generate` prints and stores: a new key as PEM, and its DNS record.
struct GeneratedKey {
    std::string private_key_pem;
    std::string dns_record;
};
// Errors: a selector or domain that is not a DNS name (letters, digits, '-', '.', '_'; the
// domain in A-label form), or a failure of the random generator.
Result<GeneratedKey> generate_key(Algorithm algorithm, std::string_view selector,
                                  std::string_view domain);

}  // namespace relay::dkim
