// dkim_keys.h -- the DKIM keys of a tenant snapshot, parsed and indexed by domain.
//
// Built with the snapshot, off the workers' loops, from the store's records: each PEM is loaded
// once there, so a key that no longer loads (a damaged record) is left out and counted instead
// of failing at delivery, and the signer gets the algorithm and canonicalization as values.
// The index is immutable and shared by every thread. A dkim::PrivateKey signs on one thread at
// a time, so the index keeps the checked PEM and each signing thread loads its own PrivateKey
// from it (once per key and snapshot generation, not per message).
//
// Thread: any, read-only after `build`. `keys_of` allocates nothing.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/dkim/body_hash.h"
#include "relay/dkim/key.h"
#include "relay/store/tenant_records.h"

namespace relay::policy {

struct DkimSigningKey {
    std::string domain;    // d=, lower case
    std::string selector;  // s=
    dkim::Algorithm algorithm = dkim::Algorithm::rsa_sha256;
    dkim::Canonicalization canonicalization = dkim::Canonicalization::relaxed;  // header and body
    int bits = 0;
    std::string private_key_pem;  // loaded successfully when the index was built
};

class DkimKeyIndex {
  public:
    // Keys whose PEM does not load, or whose algorithm or canonicalization is unknown, or whose
    // PEM holds a key of another algorithm than the record says, are left out and counted.
    static DkimKeyIndex build(const std::vector<store::DkimKeyRecord>& records);

    // The keys of `domain` (lower case), in selector order; empty when it has none.
    std::span<const DkimSigningKey> keys_of(std::string_view domain) const;
    std::size_t keys() const { return keys_; }
    std::size_t domains() const { return by_domain_.size(); }
    // "DOMAIN/SELECTOR: why", one per key left out.
    const std::vector<std::string>& unusable() const { return unusable_; }

  private:
    std::map<std::string, std::vector<DkimSigningKey>, std::less<>> by_domain_;
    std::size_t keys_ = 0;
    std::vector<std::string> unusable_;
};

}  // namespace relay::policy
