// dkim_keys.cc -- loading the store's DKIM key records into the snapshot's index.
#include "relay/policy/dkim_keys.h"

#include <optional>

namespace relay::policy {
namespace {

std::optional<dkim::Algorithm> algorithm_of(std::string_view name) {
    for (dkim::Algorithm algorithm :
         {dkim::Algorithm::rsa_sha256, dkim::Algorithm::ed25519_sha256}) {
        if (dkim::algorithm_name(algorithm) == name) {
            return algorithm;
        }
    }
    return std::nullopt;
}

std::optional<dkim::Canonicalization> canonicalization_of(std::string_view name) {
    if (name == "relaxed") {
        return dkim::Canonicalization::relaxed;
    }
    if (name == "simple") {
        return dkim::Canonicalization::simple;
    }
    return std::nullopt;
}

}  // namespace

DkimKeyIndex DkimKeyIndex::build(const std::vector<store::DkimKeyRecord>& records) {
    DkimKeyIndex index;
    for (const store::DkimKeyRecord& record : records) {
        std::string name = record.domain + "/" + record.selector;
        auto algorithm = algorithm_of(record.algorithm);
        auto canonicalization = canonicalization_of(record.canonicalization);
        if (!algorithm || !canonicalization) {
            index.unusable_.push_back(name + ": unknown algorithm or canonicalization");
            continue;
        }
        auto key = dkim::PrivateKey::load(record.private_key_pem);
        if (!key) {
            index.unusable_.push_back(name + ": " + key.error().message);
            continue;
        }
        if (key->algorithm() != *algorithm) {
            index.unusable_.push_back(name + ": the key is not a " + record.algorithm + " key");
            continue;
        }
        index.by_domain_[record.domain].push_back(
            DkimSigningKey{record.domain, record.selector, *algorithm, *canonicalization,
                           key->bits(), record.private_key_pem});
        ++index.keys_;
    }
    return index;  // the store lists keys by domain, then selector: each vector is in order
}

std::span<const DkimSigningKey> DkimKeyIndex::keys_of(std::string_view domain) const {
    auto found = by_domain_.find(domain);
    if (found == by_domain_.end()) {
        return {};
    }
    return found->second;
}

}  // namespace relay::policy
