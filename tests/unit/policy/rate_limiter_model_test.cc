// rate_limiter_model_test.cc -- random interleavings of takings, give-backs and time steps on
// one budget, checked against a plain model of a sliding window: the list of the times of the
// units taken and not given back. A taking is granted exactly when fewer than `messages` of
// them fall within the last window; a refusal names the moment the oldest of them leaves it;
// and the kept takings never number more than `messages` in any window.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "relay/policy/resource_rate.h"

namespace relay::policy {
namespace {

struct Held {
    RateUnitSlot unit;
    std::int64_t taken_ms;
};

struct Model {
    std::uint32_t messages;
    std::int64_t window_ms;
    std::vector<std::int64_t> kept;  // taking times of units not given back

    std::vector<std::int64_t> in_window(std::int64_t now_ms) const {
        std::vector<std::int64_t> times;
        for (std::int64_t time : kept) {
            if (time > now_ms - window_ms) {
                times.push_back(time);
            }
        }
        return times;
    }
};

// No `messages` + 1 kept takings within one window: sorted, each is a window or more after the
// one `messages` places before it.
void expect_never_over(const Model& model) {
    std::vector<std::int64_t> times = model.kept;
    std::ranges::sort(times);
    for (std::size_t index = model.messages; index < times.size(); ++index) {
        ASSERT_GE(times[index] - times[index - model.messages], model.window_ms);
    }
}

void run(std::uint32_t seed) {
    std::mt19937 random(seed);
    std::uint32_t messages = std::uniform_int_distribution<std::uint32_t>(1, 20)(random);
    std::uint32_t window_s = std::uniform_int_distribution<std::uint32_t>(1, 5)(random);
    ResourceRate rate(messages, window_s);
    Model model{messages, std::int64_t{window_s} * 1000, {}};
    std::vector<Held> held;
    std::int64_t now_ms = 5'000'000;
    int granted = 0;
    for (int step = 0; step < 4000; ++step) {
        int action = std::uniform_int_distribution<int>(0, 9)(random);
        if (action < 6) {
            RateDecision decision = rate.acquire(now_ms);
            std::vector<std::int64_t> busy = model.in_window(now_ms);
            if (busy.size() < messages) {
                ASSERT_EQ(decision.outcome, RateDecision::Outcome::taken) << "step " << step;
                model.kept.push_back(now_ms);
                held.push_back(Held{decision.taken, now_ms});
                ++granted;
            } else {
                ASSERT_EQ(decision.outcome, RateDecision::Outcome::full) << "step " << step;
                std::int64_t oldest = *std::ranges::min_element(busy);
                ASSERT_EQ(decision.retry_after_ms, oldest + model.window_ms - now_ms);
            }
        } else if (action < 8 && !held.empty()) {
            // An abandoned transaction: RSET, QUIT, a refused message, a failed commit.
            std::size_t pick =
                std::uniform_int_distribution<std::size_t>(0, held.size() - 1)(random);
            rate.give_back(held[pick].unit);
            auto kept = std::ranges::find(model.kept, held[pick].taken_ms);
            model.kept.erase(kept);
            held.erase(held.begin() + static_cast<std::ptrdiff_t>(pick));
        } else if (action == 8 && !held.empty()) {
            held.erase(held.begin());  // a queued message: its unit is spent
        } else {
            now_ms += std::uniform_int_distribution<std::int64_t>(0, model.window_ms / 3)(random);
        }
    }
    expect_never_over(model);
    EXPECT_GT(granted, 0);
}

TEST(ResourceRateModel, RandomInterleavingsMatchTheSlidingWindow) {
    for (std::uint32_t seed = 1; seed <= 300; ++seed) {
        SCOPED_TRACE(seed);
        run(seed);
        if (testing::Test::HasFatalFailure()) {
            return;
        }
    }
}

}  // namespace
}  // namespace relay::policy
