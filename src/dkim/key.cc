// key.cc -- DKIM keys on wolfCrypt: PEM/DER decoding, generation, export, signing.
//
// Untrusted bytes: operator-supplied key files (PEM or DER); every decoding failure is an
// invalid_argument error naming what was expected. Thread: the caller's; a key is used by one
// thread at a time. Standards: RFC 6376 §3.3.1 and §3.6.1, RFC 8301 §3.2 (RSA sizes), RFC 8463
// §3-4 (Ed25519), RFC 7468 (PEM), RFC 8017 (PKCS#1), RFC 5958 and RFC 8410 (PKCS#8, Ed25519).
// Never: log or return key material other than the PEM asked for.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
// clang-format on

#include "relay/dkim/key.h"

#include <algorithm>
#include <optional>

#include "base64.h"
#include "names.h"

namespace relay::dkim {
namespace {

constexpr int rsa_bits_min = 1024;  // RFC 8301 §3.2: verifiers refuse smaller keys
constexpr int rsa_bits_max = 4096;
constexpr int rsa_bits_generated = 2048;
constexpr std::size_t der_bytes_max = 8192;  // a PKCS#8 RSA-4096 key is about 2,400 octets

Error key_error(std::string message) {
    return make_error(ErrorCode::invalid_argument, Blame::client, std::move(message));
}

Error crypto_error(const std::string& what, int code) {
    return make_error(ErrorCode::internal, Blame::relay,
                      what + " failed (wolfCrypt error " + std::to_string(code) + ")");
}

struct Pem {
    std::string label;
    std::vector<std::uint8_t> der;
};

// The first PEM block of the text, or nullopt if the text has none (then it may be DER).
Result<std::optional<Pem>> parse_pem(std::string_view text) {
    constexpr std::string_view begin_marker = "-----BEGIN ";
    const std::size_t begin = text.find(begin_marker);
    if (begin == std::string_view::npos) {
        return std::optional<Pem>{};
    }
    const std::size_t label_begin = begin + begin_marker.size();
    const std::size_t label_end = text.find("-----", label_begin);
    if (label_end == std::string_view::npos) {
        return key_error("the PEM BEGIN line is not closed with -----");
    }
    Pem pem;
    pem.label = std::string(text.substr(label_begin, label_end - label_begin));
    const std::string end_line = "-----END " + pem.label + "-----";
    const std::size_t body_begin = label_end + 5;
    const std::size_t body_end = text.find(end_line, body_begin);
    if (body_end == std::string_view::npos) {
        return key_error("the PEM block has no line " + end_line);
    }
    const std::string_view body = text.substr(body_begin, body_end - body_begin);
    if (pem.label.find("ENCRYPTED") != std::string::npos ||
        body.find("Proc-Type:") != std::string_view::npos) {
        return key_error("the key is encrypted; give it without a passphrase");
    }
    auto der = internal::base64_decode(body);
    if (!der) {
        return key_error("the PEM block is not valid base64");
    }
    pem.der = std::move(*der);
    return std::optional<Pem>{std::move(pem)};
}

std::string pem_encode(std::string_view label, std::span<const std::uint8_t> der) {
    const std::string base64 = internal::base64_encode(der);
    std::string pem = "-----BEGIN " + std::string(label) + "-----\n";
    for (std::size_t offset = 0; offset < base64.size(); offset += 64) {
        pem += base64.substr(offset, 64);
        pem += '\n';
    }
    pem += "-----END " + std::string(label) + "-----\n";
    return pem;
}

}  // namespace

struct PrivateKey::State {
    Algorithm algorithm = Algorithm::rsa_sha256;
    bool rsa_ready = false;
    bool ed25519_ready = false;
    bool rng_ready = false;
    RsaKey rsa{};
    ed25519_key ed25519{};
    WC_RNG rng{};

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
        if (rsa_ready) {
            wc_FreeRsaKey(&rsa);
        }
        if (ed25519_ready) {
            wc_ed25519_free(&ed25519);
        }
        if (rng_ready) {
            wc_FreeRng(&rng);
        }
    }

    Status start_rng() {
        const int result = wc_InitRng(&rng);
        if (result != 0) {
            return crypto_error("starting the random generator", result);
        }
        rng_ready = true;
        return {};
    }

    Status start_rsa() {
        const int result = wc_InitRsaKey(&rsa, nullptr);
        if (result != 0) {
            return crypto_error("preparing an RSA key", result);
        }
        rsa_ready = true;
        algorithm = Algorithm::rsa_sha256;
        return {};
    }

    Status start_ed25519() {
        const int result = wc_ed25519_init(&ed25519);
        if (result != 0) {
            return crypto_error("preparing an Ed25519 key", result);
        }
        ed25519_ready = true;
        algorithm = Algorithm::ed25519_sha256;
        return {};
    }

    // RSA from PKCS#1, or PKCS#8 around PKCS#1.
    bool decode_rsa(std::vector<std::uint8_t>& der) {
        word32 index = 0;
        if (wc_RsaPrivateKeyDecode(der.data(), &index, &rsa, static_cast<word32>(der.size())) ==
            0) {
            return true;
        }
        index = 0;
        if (wc_GetPkcs8TraditionalOffset(der.data(), &index, static_cast<word32>(der.size())) < 0) {
            return false;
        }
        return wc_RsaPrivateKeyDecode(der.data(), &index, &rsa, static_cast<word32>(der.size())) ==
               0;
    }

    // Ed25519 from PKCS#8; the public half is derived when the file does not carry it.
    bool decode_ed25519(const std::vector<std::uint8_t>& der) {
        word32 index = 0;
        if (wc_Ed25519PrivateKeyDecode(der.data(), &index, &ed25519,
                                       static_cast<word32>(der.size())) != 0) {
            return false;
        }
        if (ed25519.pubKeySet) {
            return true;
        }
        byte seed[ED25519_KEY_SIZE];
        byte public_key[ED25519_PUB_KEY_SIZE];
        word32 seed_bytes = sizeof(seed);
        return wc_ed25519_export_private_only(&ed25519, seed, &seed_bytes) == 0 &&
               wc_ed25519_make_public(&ed25519, public_key, sizeof(public_key)) == 0 &&
               wc_ed25519_import_private_key(seed, seed_bytes, public_key, sizeof(public_key),
                                             &ed25519) == 0;
    }
};

PrivateKey::PrivateKey(std::unique_ptr<State> state) : state_(std::move(state)) {}
PrivateKey::PrivateKey(PrivateKey&&) noexcept = default;
PrivateKey& PrivateKey::operator=(PrivateKey&&) noexcept = default;
PrivateKey::~PrivateKey() = default;

std::string_view algorithm_name(Algorithm algorithm) {
    return algorithm == Algorithm::rsa_sha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::string_view key_type_name(Algorithm algorithm) {
    return algorithm == Algorithm::rsa_sha256 ? "rsa" : "ed25519";
}

Result<PrivateKey> PrivateKey::load(std::string_view pem_or_der) {
    auto pem = parse_pem(pem_or_der);
    if (!pem) {
        return pem.error();
    }
    std::vector<std::uint8_t> der;
    if (pem->has_value()) {
        const std::string& label = (*pem)->label;
        if (label != "RSA PRIVATE KEY" && label != "PRIVATE KEY") {
            return key_error("a PEM block \"" + label +
                             "\" is not a private key (RSA PRIVATE KEY or PRIVATE KEY)");
        }
        der = std::move((*pem)->der);
    } else {
        der.assign(pem_or_der.begin(), pem_or_der.end());
    }
    if (der.empty() || der.size() > der_bytes_max) {
        return key_error("the key is empty or longer than " + std::to_string(der_bytes_max) +
                         " octets");
    }
    auto state = std::make_unique<State>();
    if (auto started = state->start_rng(); !started) {
        return started.error();
    }
    if (auto started = state->start_rsa(); !started) {
        return started.error();
    }
    if (state->decode_rsa(der)) {
        const int bits = wc_RsaEncryptSize(&state->rsa) * 8;
        if (bits < rsa_bits_min || bits > rsa_bits_max) {
            return key_error("an RSA key of " + std::to_string(bits) + " bits; DKIM needs " +
                             std::to_string(rsa_bits_min) + " to " + std::to_string(rsa_bits_max));
        }
        if (const int result = wc_RsaSetRNG(&state->rsa, &state->rng); result != 0) {
            return crypto_error("attaching the random generator to the RSA key", result);
        }
        return PrivateKey(std::move(state));
    }
    if (auto started = state->start_ed25519(); !started) {
        return started.error();
    }
    if (state->decode_ed25519(der)) {
        return PrivateKey(std::move(state));
    }
    return key_error(
        "not a private key relay can use: expected RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8), "
        "PEM or DER, unencrypted");
}

Result<PrivateKey> PrivateKey::generate(Algorithm algorithm) {
    auto state = std::make_unique<State>();
    if (auto started = state->start_rng(); !started) {
        return started.error();
    }
    if (algorithm == Algorithm::rsa_sha256) {
        if (auto started = state->start_rsa(); !started) {
            return started.error();
        }
        if (const int result =
                wc_MakeRsaKey(&state->rsa, rsa_bits_generated, WC_RSA_EXPONENT, &state->rng);
            result != 0) {
            return crypto_error("generating an RSA key", result);
        }
        if (const int result = wc_RsaSetRNG(&state->rsa, &state->rng); result != 0) {
            return crypto_error("attaching the random generator to the RSA key", result);
        }
        return PrivateKey(std::move(state));
    }
    if (auto started = state->start_ed25519(); !started) {
        return started.error();
    }
    if (const int result = wc_ed25519_make_key(&state->rng, ED25519_KEY_SIZE, &state->ed25519);
        result != 0) {
        return crypto_error("generating an Ed25519 key", result);
    }
    return PrivateKey(std::move(state));
}

Algorithm PrivateKey::algorithm() const {
    return state_->algorithm;
}

int PrivateKey::bits() const {
    if (state_->algorithm == Algorithm::rsa_sha256) {
        return wc_RsaEncryptSize(&state_->rsa) * 8;
    }
    return 256;
}

std::string PrivateKey::public_key_base64() const {
    if (state_->algorithm == Algorithm::rsa_sha256) {
        std::vector<std::uint8_t> der(1024);
        const int length =
            wc_RsaKeyToPublicDer(&state_->rsa, der.data(), static_cast<word32>(der.size()));
        RELAY_ASSERT(length > 0);  // a loaded key of at most 4096 bits always fits
        der.resize(static_cast<std::size_t>(length));
        return internal::base64_encode(der);
    }
    std::array<std::uint8_t, ED25519_PUB_KEY_SIZE> public_key{};
    word32 length = public_key.size();
    RELAY_ASSERT(wc_ed25519_export_public(&state_->ed25519, public_key.data(), &length) == 0);
    return internal::base64_encode(std::span(public_key.data(), length));
}

Result<std::string> PrivateKey::to_pem() const {
    std::vector<std::uint8_t> der(der_bytes_max);
    if (state_->algorithm == Algorithm::rsa_sha256) {
        const int length =
            wc_RsaKeyToDer(&state_->rsa, der.data(), static_cast<word32>(der.size()));
        if (length <= 0) {
            return crypto_error("writing the RSA key", length);
        }
        der.resize(static_cast<std::size_t>(length));
        return pem_encode("RSA PRIVATE KEY", der);
    }
    const int length =
        wc_Ed25519PrivateKeyToDer(&state_->ed25519, der.data(), static_cast<word32>(der.size()));
    if (length <= 0) {
        return crypto_error("writing the Ed25519 key", length);
    }
    der.resize(static_cast<std::size_t>(length));
    return pem_encode("PRIVATE KEY", der);
}

Result<std::vector<std::uint8_t>> PrivateKey::sign(
    const std::array<std::uint8_t, 32>& header_hash) {
    if (state_->algorithm == Algorithm::rsa_sha256) {
        // RFC 8017 §9.2: EMSA-PKCS1-v1_5 signs the DER DigestInfo of the hash; for SHA-256 it is
        // this fixed prefix (note 1 there) followed by the 32 octets.
        constexpr std::array<std::uint8_t, 19> digest_info_prefix = {
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
            0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
        std::array<std::uint8_t, digest_info_prefix.size() + 32> digest_info{};
        std::copy(digest_info_prefix.begin(), digest_info_prefix.end(), digest_info.begin());
        std::copy(header_hash.begin(), header_hash.end(),
                  digest_info.begin() + digest_info_prefix.size());
        std::vector<std::uint8_t> signature(
            static_cast<std::size_t>(wc_RsaEncryptSize(&state_->rsa)));
        const int length =
            wc_RsaSSL_Sign(digest_info.data(), digest_info.size(), signature.data(),
                           static_cast<word32>(signature.size()), &state_->rsa, &state_->rng);
        if (length <= 0) {
            return crypto_error("RSA signing", length);
        }
        signature.resize(static_cast<std::size_t>(length));
        return signature;
    }
    std::vector<std::uint8_t> signature(ED25519_SIG_SIZE);
    word32 length = static_cast<word32>(signature.size());
    const int result =
        wc_ed25519_sign_msg(header_hash.data(), static_cast<word32>(header_hash.size()),
                            signature.data(), &length, &state_->ed25519);
    if (result != 0) {
        return crypto_error("Ed25519 signing", result);
    }
    signature.resize(length);
    return signature;
}

std::string dns_txt_record(std::string_view selector, std::string_view domain,
                           const PrivateKey& key) {
    const std::string text = "v=DKIM1; k=" + std::string(key_type_name(key.algorithm())) +
                             "; p=" + key.public_key_base64();
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    std::string record = std::string(selector) + "._domainkey." + std::string(domain) + ". IN TXT";
    constexpr std::size_t string_bytes_max = 255;  // RFC 1035 §3.3: one character-string
    for (std::size_t offset = 0; offset < text.size(); offset += string_bytes_max) {
        record += " \"";
        record += text.substr(offset, string_bytes_max);
        record += '"';
    }
    return record;
}

Result<GeneratedKey> generate_key(Algorithm algorithm, std::string_view selector,
                                  std::string_view domain) {
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    if (!internal::is_dns_text(selector) || !internal::is_dns_text(domain)) {
        return key_error(
            "a DKIM selector and domain must be DNS names (letters, digits, '-', "
            "'.', '_'; the domain in A-label form)");
    }
    auto key = PrivateKey::generate(algorithm);
    if (!key) {
        return key.error();
    }
    auto pem = key->to_pem();
    if (!pem) {
        return pem.error();
    }
    return GeneratedKey{std::move(*pem), dns_txt_record(selector, domain, *key)};
}

}  // namespace relay::dkim
