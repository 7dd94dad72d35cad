// siphash.h -- SipHash-2-4, the keyed hash that places login-throttle keys in their table.
//
// Why a keyed pseudo-random function and not xxHash or std::hash: the inputs (client addresses,
// usernames) are chosen by whoever attacks the relay. With an unkeyed or weakly keyed hash an
// attacker can pick usernames that all land on one victim's slots (locking the victim out) or
// spread over slots no one watches. SipHash with a per-process random 128-bit key makes the slot
// of any input unpredictable without the key (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012); the reference test vectors are checked in tests/unit/policy.
//
// Untrusted bytes: yes (hashed, never stored). Thread: any; a SipHasher belongs to its caller.
// Never allocates.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace relay::policy::internal {

using SipHashKey = std::array<std::uint8_t, 16>;

// Incremental: update() any number of times, then finish() once. The result does not depend on
// how the bytes were split between calls.
class SipHasher {
  public:
    explicit SipHasher(const SipHashKey& key);
    void update(std::string_view bytes);
    std::uint64_t finish();

  private:
    void compress(std::uint64_t word);

    std::uint64_t v0_, v1_, v2_, v3_;
    std::uint64_t pending_ = 0;  // bytes not yet making a whole word, little-endian
    std::uint64_t size_ = 0;     // bytes hashed so far
};

std::uint64_t siphash24(const SipHashKey& key, std::string_view bytes);

}  // namespace relay::policy::internal
