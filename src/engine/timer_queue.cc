// timer_queue.cc -- the per-worker deadline heap.
#include "relay/engine/timer_queue.h"

#include <algorithm>

namespace relay::engine {

TimerQueue::TimerId TimerQueue::add(Clock::time_point deadline, Callback callback) {
    TimerId id = next_id_++;
    heap_.push_back(Entry{deadline, id});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    callbacks_.emplace(id, std::move(callback));
    return id;
}

void TimerQueue::cancel(TimerId id) {
    callbacks_.erase(id);
    // Keep the heap from growing without bound when timers are re-armed far more often than
    // they fire (every command re-arms an idle timer).
    if (heap_.size() > 64 && heap_.size() > 4 * callbacks_.size()) {
        std::erase_if(heap_, [this](const Entry& entry) { return !callbacks_.contains(entry.id); });
        std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
    }
}

void TimerQueue::drop_cancelled_top() {
    while (!heap_.empty() && !callbacks_.contains(heap_.front().id)) {
        std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
        heap_.pop_back();
    }
}

std::optional<Clock::time_point> TimerQueue::next_deadline() {
    drop_cancelled_top();
    if (heap_.empty()) {
        return std::nullopt;
    }
    return heap_.front().deadline;
}

std::size_t TimerQueue::run_expired(Clock::time_point now) {
    std::vector<Callback> due;
    for (;;) {
        drop_cancelled_top();
        if (heap_.empty() || heap_.front().deadline > now) {
            break;
        }
        TimerId id = heap_.front().id;
        std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
        heap_.pop_back();
        auto found = callbacks_.find(id);
        due.push_back(std::move(found->second));
        callbacks_.erase(found);
    }
    for (Callback& callback : due) {
        callback();
    }
    return due.size();
}

}  // namespace relay::engine
