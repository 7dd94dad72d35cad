// dkim_signer.cc -- one DKIM-Signature per usable key of the From domain.
#include "dkim_signer.h"

#include "relay/base/log.h"
#include "relay/dkim/headers.h"
#include "relay/dkim/signature.h"

namespace relay::ingress::internal {

dkim::PrivateKey* DkimSigner::key_for(const policy::DkimSigningKey& key) {
    std::string name = key.domain + "/" + key.selector;
    auto found = keys_.find(name);
    if (found != keys_.end()) {
        return &found->second;
    }
    auto loaded = dkim::PrivateKey::load(key.private_key_pem);
    if (!loaded) {  // the snapshot loaded it already: only a failing allocator gets here
        log::warning("dkim: key {} does not load on this worker: {}", name, loaded.error().message);
        return nullptr;
    }
    return &keys_.emplace(std::move(name), std::move(loaded.value())).first->second;
}

void DkimSigner::note_unsigned(std::string_view domain, std::string_view why) {
    if (unsigned_domains_logged_.size() >= unsigned_domains_logged_max ||
        unsigned_domains_logged_.contains(domain)) {
        return;
    }
    unsigned_domains_logged_.emplace(domain);
    log::info("dkim: mail from {} is sent unsigned: {} (said once)", domain, why);
}

std::vector<std::string> DkimSigner::sign(const policy::TenantSnapshot& snapshot,
                                          const config::Dkim& settings, std::string_view domain,
                                          std::string_view header_block,
                                          const spool::Envelope& envelope, std::int64_t now_s) {
    if (snapshot.generation() != generation_) {
        keys_.clear();  // removed or replaced keys must not sign on
        unsigned_domains_logged_.clear();
        generation_ = snapshot.generation();
    }
    std::vector<std::string> signatures;
    std::span<const policy::DkimSigningKey> keys = snapshot.dkim_keys().keys_of(domain);
    if (keys.empty()) {
        note_unsigned(domain, "the domain has no DKIM key");
        return signatures;
    }
    std::vector<std::string_view> fields = dkim::split_header_fields(header_block);
    std::vector<std::string_view> wanted(settings.signed_headers.begin(),
                                         settings.signed_headers.end());
    std::vector<std::string> names =
        dkim::choose_signed_fields(fields, wanted, dkim::default_oversigned_field_names());
    std::optional<std::int64_t> expiration_s;
    if (settings.expiration_s != 0) {
        expiration_s = now_s + settings.expiration_s;
    }
    for (const policy::DkimSigningKey& key : keys) {
        const auto& body_hash = key.canonicalization == dkim::Canonicalization::relaxed
                                    ? envelope.dkim_body_sha256_relaxed
                                    : envelope.dkim_body_sha256_simple;
        dkim::PrivateKey* private_key = body_hash ? key_for(key) : nullptr;
        if (private_key == nullptr || signatures.size() == spool::dkim_signatures_max) {
            continue;  // a key added while the body arrived has no body hash: the next message
        }
        dkim::SignatureSpec spec{key.algorithm,        key.canonicalization,
                                 key.canonicalization, key.domain,
                                 key.selector,         now_s,
                                 expiration_s,         names};
        auto field = dkim::sign_message(*private_key, spec, fields, *body_hash);
        if (!field || field->size() > spool::dkim_signature_bytes_max) {
            log::warning("dkim: {}/{} did not sign: {}", key.domain, key.selector,
                         field ? "the field is too long" : field.error().message);
            continue;
        }
        signatures.push_back(std::move(field.value()));
    }
    return signatures;
}

}  // namespace relay::ingress::internal
