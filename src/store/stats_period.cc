// stats_period.cc -- the periods statistics are asked for ("90m", "24h", "30d").
//
// Untrusted input: relayctl's --since and the admin API's ?since=. Pure.
#include <charconv>

#include "relay/store/stats_store.h"

namespace relay::store {
namespace {

constexpr std::uint64_t period_s_max = stats_hour_buckets_kept * 3600;

}  // namespace

std::optional<std::uint64_t> parse_stats_period(std::string_view text) {
    if (text.size() < 2) {
        return std::nullopt;
    }
    std::uint64_t number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size() - 1, number);
    if (error != std::errc() || end != text.data() + text.size() - 1 || number == 0) {
        return std::nullopt;
    }
    std::uint64_t unit_s = 0;
    switch (text.back()) {
        case 'm':
            unit_s = 60;
            break;
        case 'h':
            unit_s = 3600;
            break;
        case 'd':
            unit_s = 86400;
            break;
        default:
            return std::nullopt;
    }
    if (number > period_s_max / unit_s) {
        return std::nullopt;
    }
    return number * unit_s;
}

}  // namespace relay::store
