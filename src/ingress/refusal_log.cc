// refusal_log.cc -- a line per refused connection up to a budget per interval, then a count.
#include "relay/ingress/refusal_log.h"

#include <chrono>

#include "relay/base/log.h"

namespace relay::ingress {

bool RefusalLog::admit(engine::Clock::time_point now) {
    if (now - interval_start_ >= interval_) {
        start_interval(now);
    }
    if (lines_ < lines_per_interval_) {
        ++lines_;
        return true;
    }
    ++held_back_;
    ++held_back_total_;
    return false;
}

void RefusalLog::flush(engine::Clock::time_point now) {
    if (held_back_ != 0 && now - interval_start_ >= interval_) {
        start_interval(now);
    }
}

void RefusalLog::start_interval(engine::Clock::time_point now) {
    if (held_back_ != 0) {
        auto interval_ms = std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count();
        log::warning("{} more connections refused within {} ms (counted, not logged one by one)",
                     held_back_, interval_ms);
        held_back_ = 0;
    }
    interval_start_ = now;
    lines_ = 0;
}

}  // namespace relay::ingress
