// errors.cc -- wolfSSL error codes as the short phrases that end up in SMTP replies, DSNs and the
// operator log.
//
// Untrusted bytes: text taken from peer certificates passes through printable() before it is
// shown anywhere. Threads: any. Never: let a control character or CR/LF through (the text lands
// in SMTP replies and DSN fields).

// wolfssl/options.h must come before any other wolfSSL header.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
// clang-format on

#include "internal.h"

namespace relay::tls::internal {

std::string error_text(int error_code) {
    switch (error_code) {
        case VERSION_ERROR:
            return "no TLS version in common";
        case MATCH_SUITE_ERROR:
            return "no cipher suite in common";
        case WOLFSSL_BAD_FILE:
            return "not a readable PEM file";
        case WOLFSSL_BAD_FILETYPE:
            return "not a PEM file";
        case ASN_PARSE_E:
            return "malformed certificate or key";
        default:
            break;
    }
    // wolfSSL's table of static strings; printable() guards against surprises all the same.
    const char* text = wolfSSL_ERR_reason_error_string(static_cast<unsigned long>(error_code));
    if (text == nullptr || *text == '\0') {
        return "error " + std::to_string(error_code);
    }
    return printable(text, 120);
}

std::string verify_error_text(int error_code) {
    switch (error_code) {
        case ASN_NO_SIGNER_E:
            return "unable to get local issuer certificate";
        case ASN_SELF_SIGNED_E:
            return "self-signed certificate";
        case ASN_AFTER_DATE_E:
            return "certificate has expired";
        case ASN_BEFORE_DATE_E:
            return "certificate is not yet valid";
        case DOMAIN_NAME_MISMATCH:
            return "host name mismatch";
        case IPADDR_MISMATCH:
            return "IP address mismatch";
        case ASN_SIG_CONFIRM_E:
        case ASN_SIG_OID_E:
            return "certificate signature failure";
        case ASN_SIG_HASH_E:
        case ASN_SIG_KEY_E:
            return "unsupported certificate signature algorithm";
        case ASN_PATHLEN_INV_E:
        case ASN_PATHLEN_SIZE_E:
            return "path length constraint exceeded";
        case EXTKEYUSE_AUTH_E:
        case KEYUSE_SIGNATURE_E:
        case KEYUSE_ENCIPHER_E:
            return "certificate not usable for a TLS server";
        case CRL_CERT_REVOKED:
            return "certificate revoked";
        default:
            return error_text(error_code);
    }
}

std::string printable(std::string_view text, std::size_t length_max) {
    std::string out;
    out.reserve(std::min(text.size(), length_max));
    for (char c : text) {
        if (out.size() == length_max) {
            break;
        }
        out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
    }
    return out;
}

}  // namespace relay::tls::internal
