// clock.h -- wall-clock time as relay records it: milliseconds since the Unix epoch.
//
// Queue ids, spool records, retry times and DSN dates all use this one unit. Timeouts use the
// engine's monotonic clock instead (engine/timer_queue.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace relay {

inline std::uint64_t unix_ms_now() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// "Sat, 28 Nov 2026 03:45:52 +0000" (RFC 5322 §3.3), in UTC.
std::string rfc5322_date(std::uint64_t unix_ms);
// "2026-11-28T03:45:52Z" (ISO 8601, UTC); "-" for 0.
std::string iso8601_time(std::uint64_t unix_ms);

}  // namespace relay
