// password.h -- resource passwords: generated from the kernel's random source, kept only as
// Argon2id hashes in PHC string form ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
//
// Untrusted input: the password to check comes from an SMTP client. Hashing and checking cost
// what the parameters say (tens of milliseconds and `memory_kib` of memory with the defaults),
// so they run on relayctl's thread or the hashing pool (hash_pool.h), never on a worker's loop.
//
// Thread: any; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::policy {

// Defaults: the OWASP recommendation for Argon2id (19 MiB, 2 passes, 1 lane).
struct Argon2Parameters {
    std::uint32_t memory_kib = 19 * 1024;
    std::uint32_t iterations = 2;
    std::uint32_t parallelism = 1;
};

// 32 characters of base64url from getrandom(): 192 bits.
inline constexpr std::size_t generated_password_chars = 32;

// Bytes from getrandom(), for salts, passwords and keys.
Status random_bytes(unsigned char* data, std::size_t size);
Result<std::string> generate_password();
// A fresh random salt per hash; the parameters are recorded in the PHC string.
Result<std::string> hash_password(std::string_view password, const Argon2Parameters& parameters);
// Checks with the parameters recorded in `encoded`; false also for a malformed hash.
bool password_matches(const std::string& encoded, std::string_view password);

}  // namespace relay::policy
