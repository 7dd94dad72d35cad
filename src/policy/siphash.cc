// siphash.cc -- SipHash-2-4 (two compression rounds per 8-byte word, four finalization rounds),
// as specified in the SipHash paper, little-endian words on every host.
#include "relay/policy/siphash.h"

#include <bit>

namespace relay::policy::internal {
namespace {

std::uint64_t load_little_endian(const unsigned char* bytes, std::size_t size) {
    std::uint64_t word = 0;
    for (std::size_t index = 0; index < size; ++index) {
        word |= static_cast<std::uint64_t>(bytes[index]) << (8 * index);
    }
    return word;
}

struct SipState {
    std::uint64_t v0, v1, v2, v3;

    void round() {
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

    void compress(std::uint64_t word) {
        v3 ^= word;
        round();
        round();
        v0 ^= word;
    }
};

}  // namespace

std::uint64_t siphash24(const SipHashKey& key, std::string_view bytes) {
    const std::uint64_t k0 = load_little_endian(key.data(), 8);
    const std::uint64_t k1 = load_little_endian(key.data() + 8, 8);
    SipState state{k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                   k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t whole_words = bytes.size() / 8;
    for (std::size_t index = 0; index < whole_words; ++index) {
        state.compress(load_little_endian(data + 8 * index, 8));
    }
    // The last word carries the remaining bytes and the length modulo 256 in its top byte.
    std::uint64_t last = load_little_endian(data + 8 * whole_words, bytes.size() % 8);
    last |= static_cast<std::uint64_t>(bytes.size() & 0xff) << 56;
    state.compress(last);
    state.v2 ^= 0xff;
    for (int round = 0; round < 4; ++round) {
        state.round();
    }
    return state.v0 ^ state.v1 ^ state.v2 ^ state.v3;
}

}  // namespace relay::policy::internal
