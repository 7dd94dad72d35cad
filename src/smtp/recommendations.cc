// recommendations.cc -- the text of the sending recommendations' note (recommendations.h).
//
// Pure; runs on the session's worker once per accepted message, and allocates only when a note
// is due.
#include "relay/smtp/recommendations.h"

#include <fmt/format.h>

namespace relay::smtp {
namespace {

constexpr std::uint64_t kOctetsPerMegabyte = 1'000'000;

// 10 MB, 11.5 MB: whole megabytes without a decimal, others with one (rounded down, so that a
// message just over the limit never reads as equal to it).
std::string megabytes(std::uint64_t octets) {
    const std::uint64_t tenths = octets / (kOctetsPerMegabyte / 10);
    if (tenths % 10 == 0 && octets % kOctetsPerMegabyte == 0) {
        return fmt::format("{} MB", tenths / 10);
    }
    return fmt::format("{}.{} MB", tenths / 10, tenths % 10);
}

}  // namespace

std::string recommendation_note(std::size_t recipients, std::uint64_t message_bytes,
                                const Recommendations& recommendations) {
    std::string note;
    if (recommendations.recipients_per_message_max != 0 &&
        recipients > recommendations.recipients_per_message_max) {
        note = fmt::format("note: {} recipients, we recommend at most {} per message", recipients,
                           recommendations.recipients_per_message_max);
    }
    if (recommendations.message_bytes_max != 0 &&
        message_bytes > recommendations.message_bytes_max) {
        note += note.empty() ? "" : "; ";
        note += fmt::format("note: {}, we recommend at most {} per message",
                            megabytes(message_bytes), megabytes(recommendations.message_bytes_max));
    }
    return note;
}

}  // namespace relay::smtp
