// dkim_body_hashes.cc -- choosing the canonicalizations and feeding their body hashers.
#include "dkim_body_hashes.h"

namespace relay::ingress::internal {

void DkimBodyHashes::start(const policy::TenantSnapshot* snapshot, std::string_view resource) {
    reset();
    if (snapshot == nullptr || resource.empty()) {
        return;
    }
    const store::ResourceRecord* record = snapshot->resource(resource);
    if (record == nullptr) {
        return;
    }
    bool relaxed = false;
    bool simple = false;
    for (const std::string& domain : record->domains) {
        for (const policy::DkimSigningKey& key : snapshot->dkim_keys().keys_of(domain)) {
            relaxed = relaxed || key.canonicalization == dkim::Canonicalization::relaxed;
            simple = simple || key.canonicalization == dkim::Canonicalization::simple;
        }
    }
    if (relaxed) {
        relaxed_ = std::make_unique<dkim::BodyHasher>(dkim::Canonicalization::relaxed);
    }
    if (simple) {
        simple_ = std::make_unique<dkim::BodyHasher>(dkim::Canonicalization::simple);
    }
}

void DkimBodyHashes::body(std::string_view bytes) {
    if (relaxed_) {
        relaxed_->body(bytes);
    }
    if (simple_) {
        simple_->body(bytes);
    }
}

void DkimBodyHashes::finish_into(spool::Envelope& envelope) {
    if (relaxed_) {
        envelope.dkim_body_sha256_relaxed = relaxed_->finish();
    }
    if (simple_) {
        envelope.dkim_body_sha256_simple = simple_->finish();
    }
    reset();
}

void DkimBodyHashes::reset() {
    relaxed_.reset();
    simple_.reset();
}

}  // namespace relay::ingress::internal
