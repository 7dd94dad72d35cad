// destination_budget.cc -- process-wide connection counts and message clocks per destination.
#include "relay/delivery/destination_budget.h"

#include <functional>
#include <string>

#include "relay/base/assert.h"

namespace relay::delivery {

DestinationBudget::Ticket& DestinationBudget::Ticket::operator=(Ticket&& other) noexcept {
    if (this != &other) {
        release();
        counter_ = other.counter_;
        other.counter_ = nullptr;
    }
    return *this;
}

void DestinationBudget::Ticket::release() {
    if (counter_ != nullptr) {
        std::uint32_t before = counter_->fetch_sub(1, std::memory_order_acq_rel);
        RELAY_ASSERT(before > 0);
        counter_ = nullptr;
    }
}

DestinationBudget::DestinationBudget()
    : connections_(std::make_unique<std::array<std::atomic<std::uint32_t>, slots>>()),
      next_message_us_(std::make_unique<std::array<std::atomic<std::int64_t>, slots>>()) {
    for (std::size_t index = 0; index < slots; ++index) {
        (*connections_)[index].store(0, std::memory_order_relaxed);
        (*next_message_us_)[index].store(0, std::memory_order_relaxed);
    }
}

std::size_t DestinationBudget::slot_of(std::string_view key) {
    return std::hash<std::string_view>()(key) % slots;
}

std::optional<DestinationBudget::Ticket> DestinationBudget::try_connect(
    std::string_view key, std::uint32_t connections_max) {
    std::atomic<std::uint32_t>& counter = (*connections_)[slot_of(key)];
    std::uint32_t count = counter.load(std::memory_order_acquire);
    while (count < connections_max) {
        if (counter.compare_exchange_weak(count, count + 1, std::memory_order_acq_rel)) {
            return Ticket(&counter);
        }
    }
    return std::nullopt;
}

std::uint32_t DestinationBudget::connections(std::string_view key) const {
    return (*connections_)[slot_of(key)].load(std::memory_order_acquire);
}

std::chrono::microseconds DestinationBudget::take_message(std::string_view key,
                                                          std::uint32_t messages_per_second,
                                                          std::chrono::microseconds now) {
    if (messages_per_second == 0) {
        return std::chrono::microseconds(0);
    }
    const std::int64_t interval_us = 1'000'000 / messages_per_second;
    const std::int64_t now_us = now.count();
    std::atomic<std::int64_t>& next = (*next_message_us_)[slot_of(key)];
    std::int64_t due = next.load(std::memory_order_acquire);
    for (;;) {
        if (due > now_us) {
            return std::chrono::microseconds(due - now_us);
        }
        if (next.compare_exchange_weak(due, now_us + interval_us, std::memory_order_acq_rel)) {
            return std::chrono::microseconds(0);
        }
    }
}

}  // namespace relay::delivery
