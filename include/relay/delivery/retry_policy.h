// retry_policy.h -- when to try a deferred message again, and when to give up.
//
// The schedule is a list of delays (delivery.retry_schedule_s): the n-th retry waits the n-th
// delay, and the last delay repeats. A message is given up (its pending recipients fail with
// "expired") once its next attempt would fall after received + maximum_age. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace relay::delivery {

struct RetryPolicy {
    std::span<const std::uint32_t> schedule_s;
    std::uint32_t maximum_age_s = 5 * 24 * 3600;

    // The time of the next attempt after `attempts` attempts failed (attempts >= 1), or nullopt
    // when the message has to be given up.
    std::optional<std::uint64_t> next_attempt_unix_ms(std::uint32_t attempts,
                                                      std::uint64_t received_unix_ms,
                                                      std::uint64_t now_unix_ms) const;
};

}  // namespace relay::delivery
