// timer_queue.h -- deadlines for one worker: idle timeouts, retry times, shutdown grace.
//
// A binary heap of (deadline, id). Cancelling is lazy: the entry stays in the heap and is
// skipped when it surfaces, so that a session can re-arm its idle timer on every command at the
// cost of one heap push. Expired timers are collected first and run afterwards, so a callback
// may add or cancel timers freely.
//
// Thread: one worker. Never blocks; callbacks run on the worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace relay::engine {

using Clock = std::chrono::steady_clock;

class TimerQueue {
  public:
    using TimerId = std::uint64_t;  // 0 is never a valid id
    using Callback = std::function<void()>;

    TimerId add(Clock::time_point deadline, Callback callback);
    void cancel(TimerId id);
    // The earliest live deadline, if any.
    std::optional<Clock::time_point> next_deadline();
    // Runs every timer whose deadline is at or before `now`; returns how many ran.
    std::size_t run_expired(Clock::time_point now);
    std::size_t size() const { return callbacks_.size(); }

  private:
    struct Entry {
        Clock::time_point deadline;
        TimerId id = 0;
        bool operator>(const Entry& other) const { return deadline > other.deadline; }
    };
    void drop_cancelled_top();

    std::vector<Entry> heap_;
    std::unordered_map<TimerId, Callback> callbacks_;
    TimerId next_id_ = 1;
};

}  // namespace relay::engine
