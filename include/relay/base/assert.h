// assert.h -- assertions for programmer errors.
//
// An assertion failure is a bug in relay, never an operating error (bad input, full disk, a
// remote that misbehaves): those are Results. Assertions stay on in every build, release
// included, because a relay that keeps running with broken invariants can lose mail.
#pragma once

namespace relay::internal {
[[noreturn]] void assertion_failed(const char* expression, const char* file, int line);
}

#define RELAY_ASSERT(condition)                                                  \
    do {                                                                         \
        if (!(condition)) [[unlikely]] {                                         \
            ::relay::internal::assertion_failed(#condition, __FILE__, __LINE__); \
        }                                                                        \
    } while (false)
