// fuzz_checks.h -- what several harnesses check their targets' answers with.
//
// Independent of the code under test on purpose: a harness that checked UTF-8 with the pass's
// own DFA would agree with any bug in it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace fuzz_checks {

// Aborts, so that libFuzzer records the input, when a property does not hold; says which one
// first (the harness's line), since an inlined abort's stack trace often does not.
// (__builtin_FILE and __builtin_LINE: clang 14 has no std::source_location.)
inline void check(bool condition, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
    if (!condition) {
        std::fprintf(stderr, "check failed: %s:%d\n", file, line);
        std::abort();
    }
}

// Well-formed UTF-8 by direct decoding (RFC 3629 §4).
inline bool well_formed_utf8(std::string_view bytes) {
    std::size_t index = 0;
    while (index < bytes.size()) {
        const auto lead = static_cast<unsigned char>(bytes[index]);
        std::size_t length = 1;
        std::uint32_t value = lead;
        std::uint32_t minimum = 0;
        if (lead >= 0xF0) {
            length = 4, value = lead & 0x07, minimum = 0x10000;
        } else if (lead >= 0xE0) {
            length = 3, value = lead & 0x0F, minimum = 0x800;
        } else if (lead >= 0xC0) {
            length = 2, value = lead & 0x1F, minimum = 0x80;
        } else if (lead >= 0x80) {
            return false;
        }
        if (index + length > bytes.size()) {
            return false;
        }
        for (std::size_t next = 1; next < length; ++next) {
            const auto octet = static_cast<unsigned char>(bytes[index + next]);
            if ((octet & 0xC0) != 0x80) {
                return false;
            }
            value = value << 6 | (octet & 0x3F);
        }
        if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
            return false;
        }
        index += length;
    }
    return true;
}

}  // namespace fuzz_checks
