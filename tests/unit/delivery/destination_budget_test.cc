// The process-wide budget: connection counts never exceed a limit under contention, tickets
// give back exactly what they took, the message clock spaces messages 1/rate apart.
#include "relay/delivery/destination_budget.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace relay::delivery {
namespace {

using std::chrono::microseconds;

TEST(DestinationBudget, RefusesAtTheLimitAndTakesBackOnRelease) {
    DestinationBudget budget;
    std::vector<DestinationBudget::Ticket> held;
    for (int index = 0; index < 3; ++index) {
        auto ticket = budget.try_connect("gmail.com", 3);
        ASSERT_TRUE(ticket);
        held.push_back(std::move(*ticket));
    }
    EXPECT_FALSE(budget.try_connect("gmail.com", 3));
    EXPECT_EQ(budget.connections("gmail.com"), 3u);
    held.pop_back();
    EXPECT_EQ(budget.connections("gmail.com"), 2u);
    EXPECT_TRUE(budget.try_connect("gmail.com", 3));  // destroyed at once: given back
    EXPECT_EQ(budget.connections("gmail.com"), 2u);
    held.clear();
    EXPECT_EQ(budget.connections("gmail.com"), 0u);
}

TEST(DestinationBudget, MovedTicketsReleaseOnce) {
    DestinationBudget budget;
    auto first = budget.try_connect("a.test", 1);
    ASSERT_TRUE(first);
    DestinationBudget::Ticket moved = std::move(*first);
    DestinationBudget::Ticket assigned;
    assigned = std::move(moved);
    EXPECT_FALSE(moved.held());  // NOLINT(bugprone-use-after-move): what a move leaves
    EXPECT_TRUE(assigned.held());
    EXPECT_EQ(budget.connections("a.test"), 1u);
    assigned.release();
    assigned.release();
    EXPECT_EQ(budget.connections("a.test"), 0u);
}

// Several threads take and give back tickets for a few destinations at random; each thread
// checks, while it holds a ticket, that the count it sees never passes the limit, and the
// largest number of tickets held at once (counted separately) never passes it either.
TEST(DestinationBudget, RandomizedThreadsNeverExceedTheLimit) {
    std::random_device device;
    const unsigned seed = device();
    std::printf("seed %u\n", seed);
    DestinationBudget budget;
    const std::vector<std::string> keys = {"shaping:gmail.com", "route:0", "example.org"};
    const std::vector<std::uint32_t> limits = {1, 3, 7};
    std::vector<std::atomic<int>> holding(keys.size());
    std::vector<std::atomic<int>> most(keys.size());
    std::atomic<bool> exceeded{false};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (unsigned thread = 0; thread < 4; ++thread) {
        threads.emplace_back([&, thread] {
            std::mt19937 random(seed + thread);
            std::vector<std::pair<std::size_t, DestinationBudget::Ticket>> held;
            for (int step = 0; step < 200000; ++step) {
                if (held.empty() || random() % 2 == 0) {
                    std::size_t which = random() % keys.size();
                    if (auto ticket = budget.try_connect(keys[which], limits[which])) {
                        int now = holding[which].fetch_add(1) + 1;
                        int seen = most[which].load();
                        while (now > seen && !most[which].compare_exchange_weak(seen, now)) {
                        }
                        if (now > static_cast<int>(limits[which]) ||
                            budget.connections(keys[which]) > limits[which]) {
                            exceeded = true;
                        }
                        held.emplace_back(which, std::move(*ticket));
                    }
                } else {
                    std::size_t index = random() % held.size();
                    std::size_t which = held[index].first;
                    holding[which].fetch_sub(1);  // before the slot is given back
                    held.erase(held.begin() + static_cast<std::ptrdiff_t>(index));
                }
            }
            for (auto& [which, ticket] : held) {
                holding[which].fetch_sub(1);
                ticket.release();
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    EXPECT_FALSE(exceeded);
    for (std::size_t which = 0; which < keys.size(); ++which) {
        EXPECT_LE(most[which].load(), static_cast<int>(limits[which])) << keys[which];
        EXPECT_GE(most[which].load(), 1) << keys[which];
        EXPECT_EQ(budget.connections(keys[which]), 0u) << keys[which];
    }
}

TEST(DestinationBudget, MessagesAreSpacedOneIntervalApart) {
    DestinationBudget budget;
    EXPECT_EQ(budget.take_message("d", 4, microseconds(1'000'000)).count(), 0);
    EXPECT_EQ(budget.take_message("d", 4, microseconds(1'000'000)).count(), 250'000);
    EXPECT_EQ(budget.take_message("d", 4, microseconds(1'100'000)).count(), 150'000);
    EXPECT_EQ(budget.take_message("d", 4, microseconds(1'250'000)).count(), 0);
    EXPECT_EQ(budget.take_message("d", 0, microseconds(1'250'000)).count(), 0);  // no limit
}

// Threads on one clock ask for messages as fast as they can for a simulated 2 seconds; the
// messages granted stay within the rate (plus the first).
TEST(DestinationBudget, RateHoldsAcrossThreads) {
    DestinationBudget budget;
    std::atomic<std::int64_t> clock_us{0};
    std::atomic<int> granted{0};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int thread = 0; thread < 4; ++thread) {
        threads.emplace_back([&] {
            for (int step = 0; step < 100000; ++step) {
                std::int64_t now = clock_us.fetch_add(20);  // 100,000 asks x 4 x 20 us = 8 s
                if (budget.take_message("shaping:x", 50, microseconds(now)).count() == 0) {
                    granted.fetch_add(1);
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    double seconds = static_cast<double>(clock_us.load()) / 1e6;
    EXPECT_LE(granted.load(), static_cast<int>(50 * seconds) + 1);
    EXPECT_GE(granted.load(), static_cast<int>(50 * seconds * 0.9));
}

}  // namespace
}  // namespace relay::delivery
