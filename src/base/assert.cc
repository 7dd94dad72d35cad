// assert.cc -- the one place an assertion failure ends the process.
#include "relay/base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace relay::internal {

void assertion_failed(const char* expression, const char* file, int line) {
    std::fprintf(stderr, "relay: panic: assertion failed: %s (%s:%d)\n", expression, file, line);
    std::fflush(stderr);
    std::abort();
}

}  // namespace relay::internal
