// admin_token_store.h -- the admin API's bearer tokens behind an interface: named, kept only as
// the SHA-256 of the token (admin/token.h makes and hashes them), added and removed by relayctl,
// read by the admin thread for every request.
//
// A token is 32 random bytes, so its hash needs no salt or slow function: nobody can guess a
// preimage, and a stolen store reveals no token.
//
// Thread: like its TenantStore (one call at a time, may block).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relay/base/result.h"

namespace relay::store {

struct AdminTokenRecord {
    std::string name;             // 1-64 of [A-Za-z0-9._-]
    std::string sha256_hex;       // 64 lower-case hex digits
    std::uint64_t created_s = 0;  // Unix seconds
};

class AdminTokenStore {
  public:
    virtual ~AdminTokenStore() = default;
    // Refuses a name already in use and a malformed name or hash.
    virtual Status add_admin_token(const AdminTokenRecord& token) = 0;
    // False when there was no such token.
    virtual Result<bool> remove_admin_token(const std::string& name) = 0;
    // Every token, by name.
    virtual Result<std::vector<AdminTokenRecord>> admin_tokens() = 0;
};

// Whether `name` may name a token; the error says what is wrong.
Status check_admin_token_name(const std::string& name);

}  // namespace relay::store
