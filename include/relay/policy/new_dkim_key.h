// new_dkim_key.h -- a DKIM key ready for the tenant store, generated or imported from PEM, with
// the DNS TXT record that publishes it. relayctl's `dkim generate|import` and the admin API's
// POST /dkim-keys both make their keys here, so the checks are the same.
//
// Thread: any; generation reads the system's random source.
#pragma once

#include <cstdint>
#include <string>

#include "relay/base/result.h"
#include "relay/store/tenant_records.h"

namespace relay::policy {

struct NewDkimKeyRequest {
    std::string domain;                        // checked with store::check_domain
    std::string selector;                      // checked with store::check_dkim_selector
    std::string algorithm = "rsa-2048";        // to generate: "rsa-2048" or "ed25519"
    std::string private_key_pem;               // to import: a PEM key (then `algorithm` is unused)
    std::string canonicalization = "relaxed";  // "relaxed" or "simple"
    std::uint64_t created_unix_s = 0;
};

struct NewDkimKey {
    store::DkimKeyRecord record;
    std::string dns_record;
    int bits = 0;
};

// Generates a key when `private_key_pem` is empty, else loads it (keeping only the key).
Result<NewDkimKey> make_dkim_key(const NewDkimKeyRequest& request);

}  // namespace relay::policy
