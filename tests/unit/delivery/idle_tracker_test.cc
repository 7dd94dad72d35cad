// The idle tracker against a model (a map of keys to their last touch): random touches,
// forgets and sweeps take exactly the keys the model says are idle, oldest first.
#include "relay/delivery/idle_tracker.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace relay::delivery {
namespace {

TEST(IdleTracker, TakesTheOldestFirstAndOnlyThoseIdle) {
    IdleTracker<std::string> tracker;
    tracker.touch("a", 10);
    tracker.touch("b", 20);
    tracker.touch("c", 30);
    tracker.touch("a", 40);  // used again: now the newest
    EXPECT_EQ(tracker.take_idle(25, 10), (std::vector<std::string>{"b"}));
    EXPECT_EQ(tracker.take_idle(100, 1), (std::vector<std::string>{"c"}));
    EXPECT_EQ(tracker.size(), 1u);
    tracker.forget("a");
    EXPECT_TRUE(tracker.take_idle(1000, 10).empty());
}

TEST(IdleTracker, MatchesAMapWithTimes) {
    std::random_device device;
    const unsigned seed = device();
    std::printf("seed %u\n", seed);
    std::mt19937 random(seed);
    IdleTracker<int> tracker;
    std::map<int, std::uint64_t> model;  // key -> last touch
    std::uint64_t now = 0;
    for (int step = 0; step < 100000; ++step) {
        now += random() % 5;
        int key = static_cast<int>(random() % 500);
        switch (random() % 8) {
            case 0: {
                tracker.forget(key);
                model.erase(key);
                break;
            }
            case 1: {
                std::uint64_t idle = random() % 400;
                std::uint64_t before = now > idle ? now - idle : 0;
                std::size_t count_max = 1 + random() % 50;
                std::vector<int> taken = tracker.take_idle(before, count_max);
                // The model's idle keys, oldest first (ties: in touch order, which the model
                // cannot tell apart, so compare times).
                std::vector<std::pair<std::uint64_t, int>> idle_keys;
                for (const auto& [k, at] : model) {
                    if (at <= before) {
                        idle_keys.emplace_back(at, k);
                    }
                }
                std::sort(idle_keys.begin(), idle_keys.end());
                ASSERT_EQ(taken.size(), std::min(count_max, idle_keys.size())) << "seed " << seed;
                std::uint64_t last = 0;
                for (int k : taken) {
                    ASSERT_TRUE(model.contains(k)) << "seed " << seed;
                    ASSERT_LE(model[k], before) << "seed " << seed;
                    ASSERT_GE(model[k], last) << "seed " << seed;
                    last = model[k];
                    model.erase(k);
                }
                // Nothing older than what was taken was left behind.
                for (const auto& [k, at] : model) {
                    if (taken.size() == count_max) {
                        ASSERT_GE(at, last) << "seed " << seed;
                    } else {
                        ASSERT_GT(at, before) << "seed " << seed;
                    }
                }
                break;
            }
            default: {
                tracker.touch(key, now);
                model[key] = now;
                break;
            }
        }
        ASSERT_EQ(tracker.size(), model.size()) << "seed " << seed;
    }
}

}  // namespace
}  // namespace relay::delivery
