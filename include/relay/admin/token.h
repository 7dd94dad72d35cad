// token.h -- the admin API's bearer tokens: made from 32 random bytes, shown once, kept only as
// their SHA-256 (store/admin_token_store.h), and checked by hashing what a request presents.
//
// A token has full entropy, so a plain SHA-256 is enough: no salt or slow hash would make a
// 256-bit secret harder to guess. Checks compare every stored hash in constant time, so the
// time a request takes does not say how much of a hash it matched.
//
// Thread: any; generate_admin_token() reads getrandom(2).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::admin {

struct NewAdminToken {
    std::string token;       // "rlyadm_" and 64 hex digits: what the operator keeps
    std::string sha256_hex;  // what the store keeps
};

Result<NewAdminToken> generate_admin_token();
// The lower-case hex SHA-256 of the token's text.
std::string admin_token_sha256_hex(std::string_view token);
// Equal strings, in a time that depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);
// Whether `sha256_hex` is one of `known`, looking at each of them whatever matches.
bool admin_token_known(std::string_view sha256_hex, std::span<const std::string> known);

}  // namespace relay::admin
