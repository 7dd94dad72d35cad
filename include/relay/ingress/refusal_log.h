// refusal_log.h -- keeps a flood of refused connections from flooding the log.
//
// A scanner outside the client networks, or one address over its connection limits, can open
// thousands of connections a second; one warning line each would bury everything else and cost
// more than the refusal itself. Each interval, the first `lines_per_interval` refusals are logged
// one line each; the rest are only counted, and the count is logged once the interval is over
// (at the next refusal, or at the next `flush` by the ingress's one-second sweep).
//
// Thread: one worker's; one object per Ingress.
#pragma once

#include <cstdint>

#include "relay/engine/timer_queue.h"

namespace relay::ingress {

class RefusalLog {
  public:
    static constexpr std::uint32_t default_lines_per_interval = 20;

    explicit RefusalLog(std::uint32_t lines_per_interval = default_lines_per_interval,
                        engine::Clock::duration interval = std::chrono::seconds(1))
        : lines_per_interval_(lines_per_interval), interval_(interval) {}

    // Whether this refusal gets its own line (the caller writes it); false: it was counted.
    bool admit(engine::Clock::time_point now);
    // Logs the count of refusals held back in an interval that is over.
    void flush(engine::Clock::time_point now);

    std::uint64_t held_back_total() const { return held_back_total_; }

  private:
    void start_interval(engine::Clock::time_point now);

    std::uint32_t lines_per_interval_;
    engine::Clock::duration interval_;
    engine::Clock::time_point interval_start_{};
    std::uint32_t lines_ = 0;      // logged in the current interval
    std::uint64_t held_back_ = 0;  // counted, not yet reported
    std::uint64_t held_back_total_ = 0;
};

}  // namespace relay::ingress
