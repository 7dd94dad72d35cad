// certificate.cc -- writes a self-signed ECDSA P-256 certificate and its key with wolfSSL certgen.
//
// Untrusted bytes: none (the host name comes from the operator's configuration; it is checked
// all the same, since it ends up in a DER structure). Threads: start-up only.
// RFCs: RFC 5280 (X.509 v3: section 4.2.1.6 subjectAltName, 4.2.1.3 keyUsage, 4.2.1.12
// extKeyUsage, 4.2.1.2 subject key identifier), RFC 5915 (the "EC PRIVATE KEY" encoding),
// RFC 7468 (PEM), RFC 1035 section 2.3.1 (host name syntax).
// Never: leave key bytes in memory after use, write a key file readable by others, or leave a
// half-written file under the target name.

// wolfssl/options.h must come before any other wolfSSL header.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
// clang-format on

#include "relay/tls/certificate.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "internal.h"
#include "relay/base/log.h"

namespace relay::tls {
namespace {

constexpr std::size_t host_name_length_max = 253;
constexpr std::size_t label_length_max = 63;
constexpr std::size_t der_bytes_max = 4096;
constexpr std::size_t pem_bytes_max = 8192;

bool valid_host_name(std::string_view name) {
    if (name.empty() || name.size() > host_name_length_max) {
        return false;
    }
    std::size_t label_length = 0;
    char previous = '.';
    for (char c : name) {
        if (c == '.') {
            if (label_length == 0 || previous == '-') {
                return false;
            }
            label_length = 0;
        } else {
            bool letter_digit =
                (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!letter_digit && !(c == '-' && previous != '.')) {
                return false;
            }
            if (++label_length > label_length_max) {
                return false;
            }
        }
        previous = c;
    }
    return label_length > 0 && previous != '-';
}

// DER definite length (X.690 section 8.1.3); the values here stay below 64 KiB.
[[maybe_unused]] void append_der_length(std::vector<unsigned char>& out, std::size_t length) {
    if (length < 0x80) {
        out.push_back(static_cast<unsigned char>(length));
    } else if (length <= 0xff) {
        out.push_back(0x81);
        out.push_back(static_cast<unsigned char>(length));
    } else {
        out.push_back(0x82);
        out.push_back(static_cast<unsigned char>(length >> 8));
        out.push_back(static_cast<unsigned char>(length & 0xff));
    }
}

// GeneralNames ::= SEQUENCE { dNSName [2] IA5String }, the value of the subjectAltName extension.
[[maybe_unused]] std::vector<unsigned char> subject_alt_name_der(std::string_view host_name) {
    std::vector<unsigned char> name{0x82};
    append_der_length(name, host_name.size());
    name.insert(name.end(), host_name.begin(), host_name.end());
    std::vector<unsigned char> sequence{0x30};
    append_der_length(sequence, name.size());
    sequence.insert(sequence.end(), name.begin(), name.end());
    return sequence;
}

// Writes beside the target, syncs, then renames over it, so that a crash leaves either the old
// file or the complete new one.
Status write_file(const std::string& path, std::span<const unsigned char> contents, mode_t mode) {
    std::string temporary = path + ".tmp-XXXXXX";
    int descriptor = ::mkostemp(temporary.data(), O_CLOEXEC);  // created 0600
    if (descriptor < 0) {
        return system_error("cannot create " + temporary, errno);
    }
    std::size_t written = 0;
    int error_number = 0;
    while (written < contents.size() && error_number == 0) {
        ssize_t result = ::write(descriptor, contents.data() + written, contents.size() - written);
        if (result < 0 && errno != EINTR) {
            error_number = errno;
        } else if (result > 0) {
            written += static_cast<std::size_t>(result);
        }
    }
    if (error_number == 0 && ::fchmod(descriptor, mode) != 0) {
        error_number = errno;
    }
    if (error_number == 0 && ::fsync(descriptor) != 0) {
        error_number = errno;
    }
    if (::close(descriptor) != 0 && error_number == 0) {
        error_number = errno;
    }
    if (error_number == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) {
        error_number = errno;
    }
    if (error_number != 0) {
        ::unlink(temporary.c_str());
        return system_error("cannot write " + path, error_number);
    }
    return {};
}

Status crypto_error(const char* what, int code) {
    return Error{std::string("cannot ") + what + ": " + internal::error_text(code)};
}

// Owns the wolfCrypt objects so that every exit frees (and wipes) them.
struct KeyMaterial {
    KeyMaterial() = default;
    KeyMaterial(const KeyMaterial&) = delete;
    KeyMaterial& operator=(const KeyMaterial&) = delete;
    ~KeyMaterial() {
        if (key_ready) {
            wc_ecc_free(&key);
        }
        if (rng_ready) {
            wc_FreeRng(&rng);
        }
        explicit_bzero(der.data(), der.size());
        explicit_bzero(pem.data(), pem.size());
    }
    WC_RNG rng{};
    ecc_key key{};
    bool rng_ready = false;
    bool key_ready = false;
    std::array<unsigned char, der_bytes_max> der{};
    std::array<unsigned char, pem_bytes_max> pem{};
    std::array<unsigned char, pem_bytes_max> certificate_pem{};
};

Result<std::size_t> make_key_pem(KeyMaterial& material) {
    int result = wc_InitRng(&material.rng);
    if (result != 0) {
        return crypto_error("seed the random generator", result).error();
    }
    material.rng_ready = true;
    result = wc_ecc_init(&material.key);
    if (result != 0) {
        return crypto_error("create an ECDSA key", result).error();
    }
    material.key_ready = true;
    result = wc_ecc_make_key_ex(&material.rng, 32, &material.key, ECC_SECP256R1);
    if (result == 0) {
        result = wc_ecc_set_rng(&material.key, &material.rng);  // blinding for signing
    }
    if (result != 0) {
        return crypto_error("generate an ECDSA P-256 key", result).error();
    }
    int der_size = wc_EccKeyToDer(&material.key, material.der.data(), material.der.size());
    if (der_size <= 0) {
        return crypto_error("encode the private key", der_size).error();
    }
    int pem_size = wc_DerToPem(material.der.data(), static_cast<word32>(der_size),
                               material.pem.data(), material.pem.size(), ECC_PRIVATEKEY_TYPE);
    if (pem_size <= 0) {
        return crypto_error("encode the private key as PEM", pem_size).error();
    }
    return static_cast<std::size_t>(pem_size);
}

Status fill_certificate(Cert& cert, KeyMaterial& material, std::string_view host_name, int days) {
    int result = wc_InitCert(&cert);
    if (result != 0) {
        return crypto_error("prepare the certificate", result);
    }
    cert.sigType = CTC_SHA256wECDSA;
    cert.daysValid = days;
    cert.selfSigned = 1;
    cert.isCA = 0;
    cert.basicConstSet = 1;  // an explicit CA:FALSE
    if (host_name.size() < CTC_NAME_SIZE) {
        std::memcpy(cert.subject.commonName, host_name.data(), host_name.size());
        cert.subject.commonName[host_name.size()] = '\0';
    }
#ifdef WOLFSSL_ALT_NAMES
    std::vector<unsigned char> names = subject_alt_name_der(host_name);
    std::memcpy(cert.altNames, names.data(), names.size());
    cert.altNamesSz = static_cast<int>(names.size());
#else
    log::warning(
        "wolfSSL lacks WOLFSSL_ALT_NAMES: the certificate for {} has no subjectAltName;"
        " rebuild wolfSSL with tools/build-wolfssl",
        host_name);
#endif
    result = wc_SetKeyUsage(&cert, "digitalSignature");
    if (result == 0) {
        result = wc_SetExtKeyUsage(&cert, "serverAuth");
    }
    if (result == 0) {
        result = wc_SetSubjectKeyIdFromPublicKey_ex(&cert, ECC_TYPE, &material.key);
    }
    if (result != 0) {
        return crypto_error("set the certificate extensions", result);
    }
    return {};
}

Result<std::size_t> make_certificate_pem(KeyMaterial& material, std::string_view host_name,
                                         int days) {
    Cert cert;
    if (Status status = fill_certificate(cert, material, host_name, days); !status) {
        return status.error();
    }
    std::array<unsigned char, der_bytes_max> der{};
    int result =
        wc_MakeCert_ex(&cert, der.data(), der.size(), ECC_TYPE, &material.key, &material.rng);
    if (result > 0) {
        result = wc_SignCert_ex(cert.bodySz, cert.sigType, der.data(), der.size(), ECC_TYPE,
                                &material.key, &material.rng);
    }
    if (result <= 0) {
        return crypto_error("sign the certificate", result).error();
    }
    int pem_size =
        wc_DerToPem(der.data(), static_cast<word32>(result), material.certificate_pem.data(),
                    material.certificate_pem.size(), CERT_TYPE);
    if (pem_size <= 0) {
        return crypto_error("encode the certificate as PEM", pem_size).error();
    }
    return static_cast<std::size_t>(pem_size);
}

}  // namespace

Status generate_self_signed(std::string_view host_name, const std::string& key_path,
                            const std::string& cert_path, int days) {
    if (!valid_host_name(host_name)) {
        return Error{"invalid host name for a certificate: " +
                     internal::printable(host_name, host_name_length_max)};
    }
    if (days < 1 || days > certificate_days_max) {
        return Error{"certificate validity must be 1 to " + std::to_string(certificate_days_max) +
                     " days"};
    }
    if (Status status = initialize(); !status) {
        return status;
    }
    KeyMaterial material;
    auto key_pem_size = make_key_pem(material);
    if (!key_pem_size) {
        return key_pem_size.error();
    }
    auto cert_pem_size = make_certificate_pem(material, host_name, days);
    if (!cert_pem_size) {
        return cert_pem_size.error();
    }
    if (Status written = write_file(key_path, {material.pem.data(), *key_pem_size}, 0600);
        !written) {
        return written;
    }
    return write_file(cert_path, {material.certificate_pem.data(), *cert_pem_size}, 0644);
}

}  // namespace relay::tls
