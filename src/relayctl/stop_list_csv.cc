// stop_list_csv.cc -- reading and writing stop-list CSV rows.
#include "stop_list_csv.h"

#include <charconv>
#include <ctime>
#include <vector>

#include "relay/base/clock.h"

namespace relay::ctl {
namespace {

std::string_view unquoted(std::string_view field) {
    if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
        return field.substr(1, field.size() - 2);
    }
    return field;
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
    std::uint64_t number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return number;
}

}  // namespace

bool is_stop_csv_header(std::string_view line) {
    return line == stop_csv_header;
}

std::optional<std::uint64_t> parse_utc_time(std::string_view text) {
    if (auto seconds = parse_number(text)) {
        return seconds;
    }
    // YYYY-MM-DDTHH:MM:SSZ, exactly.
    if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
        text[13] != ':' || text[16] != ':' || text[19] != 'Z') {
        return std::nullopt;
    }
    const std::pair<std::size_t, std::size_t> fields[] = {{0, 4},  {5, 2},  {8, 2},
                                                          {11, 2}, {14, 2}, {17, 2}};
    std::uint64_t values[6] = {};
    for (std::size_t index = 0; index < 6; ++index) {
        auto value = parse_number(text.substr(fields[index].first, fields[index].second));
        if (!value) {
            return std::nullopt;
        }
        values[index] = *value;
    }
    if (values[0] < 1970 || values[1] < 1 || values[1] > 12 || values[2] < 1 || values[2] > 31 ||
        values[3] > 23 || values[4] > 59 || values[5] > 60) {
        return std::nullopt;
    }
    std::tm time{};
    time.tm_year = static_cast<int>(values[0]) - 1900;
    time.tm_mon = static_cast<int>(values[1]) - 1;
    time.tm_mday = static_cast<int>(values[2]);
    time.tm_hour = static_cast<int>(values[3]);
    time.tm_min = static_cast<int>(values[4]);
    time.tm_sec = static_cast<int>(values[5]);
    std::time_t seconds = ::timegm(&time);
    if (seconds < 0) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(seconds);
}

std::optional<std::uint64_t> parse_duration_s(std::string_view text) {
    if (text.size() < 2) {
        return std::nullopt;
    }
    auto count = parse_number(text.substr(0, text.size() - 1));
    std::uint64_t unit = 0;
    switch (text.back()) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 7 * 86400;
            break;
        default:
            return std::nullopt;
    }
    // Bounded so that now + the duration cannot overflow: a hundred years is "for good".
    constexpr std::uint64_t duration_s_max = 100ull * 366 * 86400;
    if (!count || *count == 0 || *count > duration_s_max / unit) {
        return std::nullopt;
    }
    return *count * unit;
}

Result<store::StopEntry> parse_stop_csv_row(std::string_view line, const std::string& scope,
                                            std::uint64_t now_s) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    while (fields.size() < 5) {
        std::size_t comma = line.find(',', start);
        fields.push_back(unquoted(line.substr(start, comma - start)));
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    if (fields.size() != 4) {
        return Error{"expected 4 fields (address,reason,added,expires), found " +
                     std::to_string(fields.size())};
    }
    auto address = store::parse_stop_address(fields[0]);
    if (!address) {
        return address.error();
    }
    store::StopEntry entry{scope, std::move(address.value()), store::StopReason::manual, now_s, 0};
    if (!fields[1].empty()) {
        auto reason = store::parse_stop_reason(fields[1]);
        if (!reason) {
            return Error{"\"" + std::string(fields[1]) +
                         "\" is not a reason (hard_bounce, complaint, unsubscribe, manual)"};
        }
        entry.reason = *reason;
    }
    for (std::size_t index : {2, 3}) {
        if (fields[index].empty()) {
            continue;
        }
        auto time = parse_utc_time(fields[index]);
        if (!time) {
            return Error{"\"" + std::string(fields[index]) +
                         "\" is not a UTC time (2026-12-01T17:00:00Z or Unix seconds)"};
        }
        (index == 2 ? entry.added_s : entry.expires_s) = *time;
    }
    return entry;
}

std::string format_stop_csv_row(const store::StopEntry& entry) {
    std::string row = entry.address.text();
    row += ',';
    row += store::stop_reason_name(entry.reason);
    row += ',';
    row += entry.added_s == 0 ? std::string("0") : iso8601_time(entry.added_s * 1000);
    row += ',';
    if (entry.expires_s != 0) {
        row += iso8601_time(entry.expires_s * 1000);
    }
    row += '\n';
    return row;
}

}  // namespace relay::ctl
