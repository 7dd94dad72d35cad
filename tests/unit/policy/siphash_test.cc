// The reference vectors of SipHash-2-4 (key 00..0f, messages 00, 00 01, ... of each length),
// from the paper's appendix and the reference implementation's vectors.h.
#include "relay/policy/siphash.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using relay::policy::internal::siphash24;
using relay::policy::internal::SipHasher;
using relay::policy::internal::SipHashKey;

SipHashKey reference_key() {
    SipHashKey key{};
    for (std::size_t index = 0; index < key.size(); ++index) {
        key[index] = static_cast<std::uint8_t>(index);
    }
    return key;
}

std::string counting_bytes(std::size_t size) {
    std::string bytes;
    for (std::size_t index = 0; index < size; ++index) {
        bytes += static_cast<char>(index);
    }
    return bytes;
}

TEST(SipHash, MatchesTheReferenceVectors) {
    const SipHashKey key = reference_key();
    EXPECT_EQ(siphash24(key, counting_bytes(0)), 0x726fdb47dd0e0e31ull);
    EXPECT_EQ(siphash24(key, counting_bytes(1)), 0x74f839c593dc67fdull);
    EXPECT_EQ(siphash24(key, counting_bytes(7)), 0xab0200f58b01d137ull);
    EXPECT_EQ(siphash24(key, counting_bytes(8)), 0x93f5f5799a932462ull);
    EXPECT_EQ(siphash24(key, counting_bytes(15)), 0xa129ca6149be45e5ull);
    EXPECT_EQ(siphash24(key, counting_bytes(63)), 0x958a324ceb064572ull);
}

TEST(SipHash, DependsOnTheKey) {
    SipHashKey other = reference_key();
    other[15] ^= 1;
    EXPECT_NE(siphash24(reference_key(), "demo/main"), siphash24(other, "demo/main"));
}

TEST(SipHash, GivesTheSameHashHoweverTheBytesAreSplit) {
    const SipHashKey key = reference_key();
    const std::string bytes = counting_bytes(64);
    for (std::size_t size = 0; size <= bytes.size(); ++size) {
        const std::string_view whole = std::string_view(bytes).substr(0, size);
        for (std::size_t piece = 1; piece <= 9; ++piece) {
            SipHasher hasher(key);
            for (std::size_t offset = 0; offset < size; offset += piece) {
                hasher.update(whole.substr(offset, piece));
            }
            ASSERT_EQ(hasher.finish(), siphash24(key, whole)) << size << " in pieces of " << piece;
        }
    }
}

}  // namespace
