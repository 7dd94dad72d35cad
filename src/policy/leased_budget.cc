// leased_budget.cc -- the entry words of a leased budget.
//
// Word layout: generation in bits 63..48, state in bits 47..46, a steady-clock millisecond in
// bits 45..0 (2^46 ms is over 2,000 years of uptime).
#include "relay/policy/leased_budget.h"

#include "relay/base/assert.h"
#include "scan_start.h"

namespace relay::policy {
namespace {

constexpr int state_shift = 46;
constexpr int generation_shift = 48;
constexpr std::uint64_t time_mask = (std::uint64_t{1} << state_shift) - 1;

std::uint64_t make_word(std::uint16_t generation, LeasedBudget::State state, std::int64_t ms) {
    RELAY_ASSERT(ms >= 0);
    return (std::uint64_t{generation} << generation_shift) |
           (std::uint64_t{static_cast<std::uint8_t>(state)} << state_shift) |
           (static_cast<std::uint64_t>(ms) & time_mask);
}

LeasedBudget::State state_of(std::uint64_t word) {
    return static_cast<LeasedBudget::State>((word >> state_shift) & 3);
}

std::int64_t time_of(std::uint64_t word) {
    return static_cast<std::int64_t>(word & time_mask);
}

std::uint64_t with_state(std::uint64_t word, LeasedBudget::State state, std::int64_t ms) {
    return make_word(static_cast<std::uint16_t>(word >> generation_shift), state, ms);
}

}  // namespace

LeasedBudget::LeasedBudget(std::string username, std::uint32_t messages, std::uint32_t window_s,
                           std::uint32_t capacity)
    : username_(std::move(username)),
      messages_(messages),
      window_s_(window_s),
      capacity_(capacity) {
    RELAY_ASSERT(messages >= 1 && window_s >= 1 && capacity >= 1);
}

// The entries exist from the first fill on: a resource that never sends in cluster mode costs
// no array. Workers read them only after seeing filled_end_ above 0 (released after this).
void LeasedBudget::allocate() {
    entries_ = std::make_unique<std::atomic<std::uint64_t>[]>(capacity_);
    generations_ = std::make_unique<std::uint16_t[]>(capacity_);
    for (std::uint32_t index = 0; index < capacity_; ++index) {
        entries_[index].store(0, std::memory_order_relaxed);
        generations_[index] = 0;
    }
}

std::optional<LeasedUnit> LeasedBudget::take(std::int64_t now_ms) {
    std::uint32_t end = filled_end_.load(std::memory_order_acquire);
    if (end == 0) {
        return std::nullopt;
    }
    std::uint32_t start = internal::next_scan_start() % end;
    for (std::uint32_t step = 0; step < end; ++step) {
        std::uint32_t index = start + step < end ? start + step : start + step - end;
        std::uint64_t word = entries_[index].load(std::memory_order_acquire);
        // A failed CAS reloads the word: taken by another worker (go on) or given back (retry).
        while (state_of(word) == State::available && time_of(word) > now_ms) {
            std::uint64_t used = with_state(word, State::used, now_ms);
            if (entries_[index].compare_exchange_weak(word, used, std::memory_order_acq_rel)) {
                return LeasedUnit{index, word, used};
            }
        }
    }
    return std::nullopt;
}

void LeasedBudget::give_back(const LeasedUnit& unit) {
    RELAY_ASSERT(unit.entry < capacity_);
    std::uint64_t expected = unit.used_word;
    // Fails when the cluster thread reclaimed the entry meanwhile: it was reported as used, and
    // Redis frees it when its window ends.
    (void)entries_[unit.entry].compare_exchange_strong(expected, unit.available_word,
                                                       std::memory_order_acq_rel);
}

void LeasedBudget::fill(std::uint32_t entry, std::int64_t deadline_ms) {
    RELAY_ASSERT(entry < capacity_);
    if (!entries_) {
        allocate();
    }
    RELAY_ASSERT(state_of(entries_[entry].load(std::memory_order_relaxed)) == State::empty);
    generations_[entry] = static_cast<std::uint16_t>(generations_[entry] + 1);
    entries_[entry].store(make_word(generations_[entry], State::available, deadline_ms),
                          std::memory_order_release);
    if (entry >= filled_end_.load(std::memory_order_relaxed)) {
        filled_end_.store(entry + 1, std::memory_order_release);
    }
}

bool LeasedBudget::reclaim(std::uint32_t entry, std::uint64_t seen) {
    RELAY_ASSERT(entry < capacity_);
    RELAY_ASSERT(state_of(seen) != State::empty);
    return entries_[entry].compare_exchange_strong(seen, 0, std::memory_order_acq_rel);
}

LeasedBudget::Entry LeasedBudget::entry_state(std::uint32_t entry) const {
    RELAY_ASSERT(entry < capacity_);
    if (!entries_) {
        return Entry{};
    }
    std::uint64_t word = entries_[entry].load(std::memory_order_acquire);
    return Entry{state_of(word), time_of(word), word};
}

}  // namespace relay::policy
