// recommendations.h -- the advice the final 250 carries for a message past the sending
// recommendations (more recipients, or more octets, than recommended), and that the log repeats.
//
// Pure: numbers in, text out. A recommendation never refuses anything: the message is queued,
// and the reply stays one line (the note follows the queue id after "; ").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace relay::smtp {

struct Recommendations {
    std::uint32_t recipients_per_message_max = 5;  // 0: no advice
    std::uint64_t message_bytes_max = 10'000'000;  // 0: no advice
};

// "" when the message is within both; else "note: 7 recipients, we recommend at most 5 per
// message", "note: 11.5 MB, we recommend at most 10 MB per message", or both joined by "; ".
// MB is 1,000,000 octets, shown with one decimal unless whole.
std::string recommendation_note(std::size_t recipients, std::uint64_t message_bytes,
                                const Recommendations& recommendations);

}  // namespace relay::smtp
