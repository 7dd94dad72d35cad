// incident.cc -- incident ids from a per-thread generator seeded by the kernel.
#include "relay/base/incident.h"

#include <sys/random.h>

#include <cstdint>

namespace relay {
namespace {

// splitmix64: a seeded counter scrambled; enough for ids that only need to differ.
std::uint64_t next_random() {
    thread_local std::uint64_t state = [] {
        std::uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed) {
            seed = reinterpret_cast<std::uintptr_t>(&seed);  // early boot: any differing value
        }
        return seed;
    }();
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace

std::string new_incident_id() {
    static constexpr char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    constexpr int length = 10;
    std::uint64_t bits = next_random();
    std::string id(length, '0');
    for (char& c : id) {
        c = alphabet[bits & 31];
        bits >>= 5;
    }
    return id;
}

}  // namespace relay
