// scan_start.h -- where a thread's next scan of a shared slot array starts.
//
// Consecutive scans of one thread, and scans of different threads, begin at different slots
// (a golden-ratio stride per thread), so that workers taking units of one budget at once seldom
// race for the same word.
#pragma once

#include <atomic>
#include <cstdint>

namespace relay::policy::internal {

inline std::uint32_t next_scan_start() {
    static std::atomic<std::uint32_t> threads{0};
    thread_local std::uint32_t position =
        threads.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b9U;
    position += 1;
    return position;
}

}  // namespace relay::policy::internal
