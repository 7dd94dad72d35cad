// siphash.cc -- SipHash-2-4 (two compression rounds per 8-byte word, four finalization rounds),
// as specified in the SipHash paper, little-endian words on every host.
#include "relay/policy/siphash.h"

#include <bit>

namespace relay::policy::internal {
namespace {

std::uint64_t load_little_endian(const unsigned char* bytes) {
    std::uint64_t word = 0;
    for (std::size_t index = 0; index < 8; ++index) {
        word |= static_cast<std::uint64_t>(bytes[index]) << (8 * index);
    }
    return word;
}

void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
}

}  // namespace

SipHasher::SipHasher(const SipHashKey& key) {
    const std::uint64_t k0 = load_little_endian(key.data());
    const std::uint64_t k1 = load_little_endian(key.data() + 8);
    v0_ = k0 ^ 0x736f6d6570736575ull;
    v1_ = k1 ^ 0x646f72616e646f6dull;
    v2_ = k0 ^ 0x6c7967656e657261ull;
    v3_ = k1 ^ 0x7465646279746573ull;
}

void SipHasher::compress(std::uint64_t word) {
    v3_ ^= word;
    sip_round(v0_, v1_, v2_, v3_);
    sip_round(v0_, v1_, v2_, v3_);
    v0_ ^= word;
}

void SipHasher::update(std::string_view bytes) {
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t index = 0;
    // Whole words straight from the input once no partial word is pending.
    while (index < bytes.size()) {
        if (size_ % 8 == 0 && bytes.size() - index >= 8) {
            compress(load_little_endian(data + index));
            index += 8;
            size_ += 8;
            continue;
        }
        pending_ |= static_cast<std::uint64_t>(data[index]) << (8 * (size_ % 8));
        ++index;
        ++size_;
        if (size_ % 8 == 0) {
            compress(pending_);
            pending_ = 0;
        }
    }
}

std::uint64_t SipHasher::finish() {
    // The last word carries the remaining bytes and the length modulo 256 in its top byte.
    compress(pending_ | ((size_ & 0xff) << 56));
    v2_ ^= 0xff;
    for (int round = 0; round < 4; ++round) {
        sip_round(v0_, v1_, v2_, v3_);
    }
    return v0_ ^ v1_ ^ v2_ ^ v3_;
}

std::uint64_t siphash24(const SipHashKey& key, std::string_view bytes) {
    SipHasher hasher(key);
    hasher.update(bytes);
    return hasher.finish();
}

}  // namespace relay::policy::internal
