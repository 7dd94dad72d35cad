// stop_list_csv.h -- stop-list entries as CSV rows, for `relayctl stoplist import|export`.
//
//     address,reason,added,expires
//     bob@example.net,hard_bounce,2026-12-01T17:00:00Z,
//     @spam.example,manual,2026-12-01T17:00:00Z,2027-01-01T00:00:00Z
//
// One header line, then one entry per line (CRLF or LF). `reason` is one of hard_bounce,
// complaint, unsubscribe, manual (empty: manual); `added` and `expires` are UTC times as
// above or Unix seconds (`added` empty: now; `expires` empty: never). Fields are not quoted
// (an address on a stop list holds no comma or quote); a field wholly in double quotes has
// them removed, as spreadsheets write them.
//
// Untrusted input: the operator's file. Thread: any; pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/base/result.h"
#include "relay/store/stop_list.h"

namespace relay::ctl {

inline constexpr std::string_view stop_csv_header = "address,reason,added,expires";

// Whether `line` (without its line ending) is the header.
bool is_stop_csv_header(std::string_view line);
// One row into an entry of `scope`; `now_s` is the added time of a row without one.
Result<store::StopEntry> parse_stop_csv_row(std::string_view line, const std::string& scope,
                                            std::uint64_t now_s);
// One row (with its LF) for `entry`.
std::string format_stop_csv_row(const store::StopEntry& entry);

// "2026-12-01T17:00:00Z" or Unix seconds; nullopt when neither.
std::optional<std::uint64_t> parse_utc_time(std::string_view text);
// "30d", "12h", "45m", "90s", "2w": seconds; nullopt when not such a duration.
std::optional<std::uint64_t> parse_duration_s(std::string_view text);

}  // namespace relay::ctl
