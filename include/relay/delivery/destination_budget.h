// destination_budget.h -- the connections and the message rate each destination gets from the
// whole process, shared by all workers without a lock.
//
// A destination is named by a key (docs/delivery.md, "Shaping": a shaping rule's domain, a
// static route, or the recipient domain). Keys are hashed into a fixed table of slots, so the
// table never grows, whatever the number of destinations over a day:
//
//   * connections: one counter per slot; a worker takes a ticket before it opens a connection
//     and gives it back when the connection is gone. Taking is a compare-and-swap that refuses
//     at the limit, so the count of a destination never exceeds its limit, whatever the number
//     of workers.
//   * messages per second: one theoretical arrival time per slot (the generic cell rate
//     algorithm, GCRA): a message may go when that time has come, and moves it one interval
//     on. No burst: messages are spaced 1/rate apart.
//
// Two keys that fall into one slot (1 in 65,536 for a pair) share its counter and its clock:
// the limits still hold for each of them, they only share them. That is the price of a table
// that is fixed in size and needs no lock and no freeing.
//
// Thread: any. Never blocks, never allocates after construction.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace relay::delivery {

class DestinationBudget {
  public:
    static constexpr std::size_t slots = std::size_t{1} << 16;

    // A connection held against a destination's limit; given back when destroyed.
    class Ticket {
      public:
        Ticket() = default;
        explicit Ticket(std::atomic<std::uint32_t>* counter) : counter_(counter) {}
        Ticket(Ticket&& other) noexcept : counter_(other.counter_) { other.counter_ = nullptr; }
        Ticket& operator=(Ticket&& other) noexcept;
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;
        ~Ticket() { release(); }
        void release();
        bool held() const { return counter_ != nullptr; }

      private:
        std::atomic<std::uint32_t>* counter_ = nullptr;
    };

    DestinationBudget();

    // A ticket if the destination has fewer than `connections_max` connections in the process.
    [[nodiscard]] std::optional<Ticket> try_connect(std::string_view key,
                                                    std::uint32_t connections_max);
    // Connections the destination's slot holds now.
    std::uint32_t connections(std::string_view key) const;

    // Zero if one message to the destination may go now (and takes its place), otherwise how
    // long to wait before asking again. `now` is any steady clock, the same on every call.
    [[nodiscard]] std::chrono::microseconds take_message(std::string_view key,
                                                         std::uint32_t messages_per_second,
                                                         std::chrono::microseconds now);

  private:
    static std::size_t slot_of(std::string_view key);

    std::unique_ptr<std::array<std::atomic<std::uint32_t>, slots>> connections_;
    std::unique_ptr<std::array<std::atomic<std::int64_t>, slots>> next_message_us_;
};

}  // namespace relay::delivery
