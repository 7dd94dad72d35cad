// dane.cc -- TLSA records against a certificate chain (RFC 7672 §3, RFC 7671 §5).
//
// Untrusted bytes: the chain and the records. Every certificate is parsed by wolfSSL before any
// of its bytes is used; a certificate wolfSSL refuses matches nothing. The DANE-TA path check
// walks down from the matched anchor one link at a time, each link in a certificate manager
// that trusts only the certificate above it, so that no certificate of the chain is trusted
// unless the anchor vouches for it through every link.
// Pure: no I/O beyond the clock wolfSSL reads for certificate dates.
#include "relay/tls/dane.h"

#include <fmt/format.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/sha512.h>

#include <algorithm>
#include <memory>
#include <optional>

namespace relay::tls {
namespace {

constexpr std::size_t sha256_bytes = 32;
constexpr std::size_t sha512_bytes = 64;
constexpr std::size_t text_data_bytes_max = 16;

struct X509Free {
    void operator()(WOLFSSL_X509* certificate) const { wolfSSL_X509_free(certificate); }
};
using X509Pointer = std::unique_ptr<WOLFSSL_X509, X509Free>;

struct CertManagerFree {
    void operator()(WOLFSSL_CERT_MANAGER* manager) const { wolfSSL_CertManagerFree(manager); }
};
using CertManagerPointer = std::unique_ptr<WOLFSSL_CERT_MANAGER, CertManagerFree>;

X509Pointer parse_certificate(std::span<const std::uint8_t> der) {
    if (der.empty() || der.size() > static_cast<std::size_t>(INT32_MAX)) {
        return nullptr;
    }
    return X509Pointer(wolfSSL_X509_load_certificate_buffer(
        der.data(), static_cast<int>(der.size()), WOLFSSL_FILETYPE_ASN1));
}

// The DER SubjectPublicKeyInfo of a parsed certificate.
std::optional<std::vector<std::uint8_t>> public_key_info(WOLFSSL_X509* certificate) {
    int bytes = 0;
    if (wolfSSL_X509_get_pubkey_buffer(certificate, nullptr, &bytes) != WOLFSSL_SUCCESS ||
        bytes <= 0) {
        return std::nullopt;
    }
    std::vector<std::uint8_t> key(static_cast<std::size_t>(bytes));
    if (wolfSSL_X509_get_pubkey_buffer(certificate, key.data(), &bytes) != WOLFSSL_SUCCESS) {
        return std::nullopt;
    }
    key.resize(static_cast<std::size_t>(bytes));
    return key;
}

// What a record's matching type compares with the record's data: the selected bytes or their
// digest.
std::optional<std::vector<std::uint8_t>> matched_form(std::span<const std::uint8_t> selected,
                                                      std::uint8_t matching) {
    switch (static_cast<TlsaMatching>(matching)) {
        case TlsaMatching::full:
            return std::vector<std::uint8_t>(selected.begin(), selected.end());
        case TlsaMatching::sha256: {
            std::vector<std::uint8_t> digest(sha256_bytes);
            if (wc_Sha256Hash(selected.data(), static_cast<word32>(selected.size()),
                              digest.data()) != 0) {
                return std::nullopt;
            }
            return digest;
        }
        case TlsaMatching::sha512: {
            std::vector<std::uint8_t> digest(sha512_bytes);
            if (wc_Sha512Hash(selected.data(), static_cast<word32>(selected.size()),
                              digest.data()) != 0) {
                return std::nullopt;
            }
            return digest;
        }
    }
    return std::nullopt;
}

// One certificate of the chain, parsed once, with both selections.
struct ChainEntry {
    std::span<const std::uint8_t> der;
    X509Pointer parsed;
    std::optional<std::vector<std::uint8_t>> public_key;
};

bool record_matches(const TlsaRecord& record, const ChainEntry& entry) {
    if (!entry.parsed) {
        return false;
    }
    std::span<const std::uint8_t> selected = entry.der;
    if (static_cast<TlsaSelector>(record.selector) == TlsaSelector::public_key) {
        if (!entry.public_key) {
            return false;
        }
        selected = *entry.public_key;
    }
    std::optional<std::vector<std::uint8_t>> form = matched_form(selected, record.matching);
    return form && *form == record.data;
}

// `lower` is signed by `upper`, a CA, and valid now.
bool issued_by(std::span<const std::uint8_t> lower, std::span<const std::uint8_t> upper) {
    CertManagerPointer manager(wolfSSL_CertManagerNew());
    if (!manager) {
        return false;
    }
    if (wolfSSL_CertManagerLoadCABuffer(manager.get(), upper.data(),
                                        static_cast<long>(upper.size()),
                                        WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
        return false;
    }
    return wolfSSL_CertManagerVerifyBuffer(manager.get(), lower.data(),
                                           static_cast<long>(lower.size()),
                                           WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
}

bool issued_for(WOLFSSL_X509* leaf, std::span<const std::string> names) {
    return std::any_of(names.begin(), names.end(), [leaf](const std::string& name) {
        return wolfSSL_X509_check_host(leaf, name.c_str(), name.size(), 0, nullptr) ==
               WOLFSSL_SUCCESS;
    });
}

std::string usage_name(std::uint8_t usage) {
    switch (usage) {
        case 0:
            return "PKIX-TA(0)";
        case 1:
            return "PKIX-EE(1)";
        case 2:
            return "DANE-TA(2)";
        case 3:
            return "DANE-EE(3)";
        default:
            return fmt::format("usage({})", usage);
    }
}

std::string record_label(const TlsaRecord& record) {
    const char* selector = record.selector == 0 ? "Cert(0)" : "SPKI(1)";
    const char* matching = record.matching == 0   ? "Full(0)"
                           : record.matching == 1 ? "SHA2-256(1)"
                                                  : "SHA2-512(2)";
    return fmt::format("{} {} {}", usage_name(record.usage), selector, matching);
}

std::string names_text(std::span<const std::string> names) {
    std::string text;
    for (const std::string& name : names) {
        text += text.empty() ? name : " or " + name;
    }
    return text.empty() ? std::string("(no name)") : text;
}

// DANE-TA(2): the chain verifies from the leaf up to the anchor at `depth`, and the leaf is
// issued for one of the names. Empty when it holds, else why not.
std::string check_trust_anchor_path(std::span<const ChainEntry> chain, std::size_t depth,
                                    std::span<const std::string> names) {
    for (std::size_t index = depth; index > 0; --index) {
        if (!issued_by(chain[index - 1].der, chain[index].der)) {
            return fmt::format(
                "the certificate at depth {} does not verify against the one at "
                "depth {}",
                index - 1, index);
        }
    }
    if (!issued_for(chain[0].parsed.get(), names)) {
        return "the certificate is not issued for " + names_text(names);
    }
    return {};
}

}  // namespace

bool tlsa_record_usable(const TlsaRecord& record) {
    const bool usage = record.usage == static_cast<std::uint8_t>(TlsaUsage::dane_ta) ||
                       record.usage == static_cast<std::uint8_t>(TlsaUsage::dane_ee);
    if (!usage || record.selector > 1) {
        return false;
    }
    switch (record.matching) {
        case 0:
            return !record.data.empty() && record.data.size() <= tlsa_full_data_bytes_max;
        case 1:
            return record.data.size() == sha256_bytes;
        case 2:
            return record.data.size() == sha512_bytes;
        default:
            return false;
    }
}

std::vector<TlsaRecord> usable_tlsa_records(std::span<const TlsaRecord> records) {
    std::vector<TlsaRecord> usable;
    std::copy_if(records.begin(), records.end(), std::back_inserter(usable), tlsa_record_usable);
    return usable;
}

std::string tlsa_record_text(const TlsaRecord& record) {
    std::string text = fmt::format("{} {} {} ", record.usage, record.selector, record.matching);
    const std::size_t shown = std::min(record.data.size(), text_data_bytes_max);
    for (std::size_t index = 0; index < shown; ++index) {
        text += fmt::format("{:02x}", record.data[index]);
    }
    if (shown < record.data.size()) {
        text += "...";
    }
    return text;
}

std::string tlsa_record_presentation(const TlsaRecord& record, std::string_view host,
                                     std::uint16_t port) {
    std::string text =
        fmt::format("_{}._tcp.{}{} IN TLSA {} {} {} ", port, host, host.ends_with('.') ? "" : ".",
                    record.usage, record.selector, record.matching);
    text.reserve(text.size() + record.data.size() * 2);
    for (std::uint8_t octet : record.data) {
        text += fmt::format("{:02X}", octet);
    }
    return text;
}

DaneVerdict dane_verify(std::span<const std::vector<std::uint8_t>> chain,
                        std::span<const TlsaRecord> records,
                        std::span<const std::string> reference_names) {
    if (chain.empty()) {
        return {false, "the server sent no certificate"};
    }
    if (chain.size() > dane_chain_certificates_max) {
        return {false, fmt::format("the server sent {} certificates, more than {}", chain.size(),
                                   dane_chain_certificates_max)};
    }
    std::vector<ChainEntry> entries;
    entries.reserve(chain.size());
    for (const std::vector<std::uint8_t>& der : chain) {
        ChainEntry entry{der, parse_certificate(der), std::nullopt};
        if (entry.parsed) {
            entry.public_key = public_key_info(entry.parsed.get());
        }
        entries.push_back(std::move(entry));
    }
    std::string last_failure;
    for (const TlsaRecord& record : records) {
        if (!tlsa_record_usable(record)) {
            continue;
        }
        if (record.usage == static_cast<std::uint8_t>(TlsaUsage::dane_ee)) {
            if (record_matches(record, entries[0])) {
                return {true, record_label(record) + " matched the leaf"};
            }
            continue;
        }
        // DANE-TA(2): an anchor above the leaf (a leaf cannot be its own trust anchor here).
        for (std::size_t depth = 1; depth < entries.size(); ++depth) {
            if (!record_matches(record, entries[depth])) {
                continue;
            }
            std::string failure = check_trust_anchor_path(entries, depth, reference_names);
            if (failure.empty()) {
                return {true, fmt::format("{} matched depth {}", record_label(record), depth)};
            }
            last_failure =
                fmt::format("{} matched depth {}, but {}", record_label(record), depth, failure);
        }
    }
    return {false, last_failure.empty() ? std::string("no TLSA record matches") : last_failure};
}

}  // namespace relay::tls
