// retry_policy.cc -- the backoff schedule.
#include "relay/delivery/retry_policy.h"

#include <algorithm>

namespace relay::delivery {

std::optional<std::uint64_t> RetryPolicy::next_attempt_unix_ms(std::uint32_t attempts,
                                                               std::uint64_t received_unix_ms,
                                                               std::uint64_t now_unix_ms) const {
    std::uint64_t expires = received_unix_ms + std::uint64_t{maximum_age_s} * 1000;
    if (schedule_s.empty() || now_unix_ms >= expires) {
        return std::nullopt;
    }
    std::size_t step =
        std::min<std::size_t>(attempts == 0 ? 0 : attempts - 1, schedule_s.size() - 1);
    std::uint64_t next = now_unix_ms + std::uint64_t{schedule_s[step]} * 1000;
    if (next > expires) {
        // One last attempt at the deadline itself, so that a message is never given up
        // earlier than the operator's maximum age.
        return expires;
    }
    return next;
}

}  // namespace relay::delivery
