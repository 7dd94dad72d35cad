// clock.cc -- formatting wall-clock times.
#include "relay/base/clock.h"

#include <ctime>

namespace relay {
namespace {

std::string format_utc(std::uint64_t unix_ms, const char* format) {
    std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[64];
    std::size_t length = std::strftime(text, sizeof text, format, &utc);
    return std::string(text, length);
}

}  // namespace

std::string rfc5322_date(std::uint64_t unix_ms) {
    return format_utc(unix_ms, "%a, %d %b %Y %H:%M:%S +0000");
}

std::string iso8601_time(std::uint64_t unix_ms) {
    return unix_ms == 0 ? std::string("-") : format_utc(unix_ms, "%Y-%m-%dT%H:%M:%SZ");
}

}  // namespace relay
