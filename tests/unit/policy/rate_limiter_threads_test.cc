// rate_limiter_threads_test.cc -- many threads taking units at once, as workers do: on one
// resource and on many, exactly the limit is granted while demand exceeds it, never more in
// any window as the clock moves, and units given back under contention are all reusable.
// Built with ThreadSanitizer, the same tests check the slots for data races.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "relay/policy/rate_limiter.h"

namespace relay::policy {
namespace {

constexpr int thread_count = 8;
constexpr std::int64_t start_ms = 7'000'000;

// Threads spin so that they set off together, yielding while one of them is not running.
void wait_for_all(std::atomic<int>& ready) {
    ready.fetch_add(1);
    for (int spins = 0; ready.load() < thread_count; ++spins) {
        if (spins > 1000) {
            std::this_thread::yield();
        }
    }
}

template <class Body>
void in_threads(Body body) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (int thread = 0; thread < thread_count; ++thread) {
        threads.emplace_back([&, thread] {
            wait_for_all(ready);
            body(thread);
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
}

std::unique_ptr<RateLimiter> limiter_for(int resources, std::uint32_t messages,
                                         std::uint32_t window_s) {
    store::TenantData data;
    data.generation = 1;
    for (int index = 0; index < resources; ++index) {
        store::ResourceRecord resource;
        resource.project = "p";
        resource.name = "r" + std::to_string(index);
        resource.rate_messages = messages;
        resource.rate_window_s = window_s;
        data.resources.push_back(resource);
    }
    auto limiter = std::make_unique<RateLimiter>();
    limiter->update(*TenantSnapshot::build(data), start_ms);
    return limiter;
}

TEST(RateLimiterThreads, OneResourceGrantsExactlyTheLimit) {
    for (int round = 0; round < 20; ++round) {
        std::unique_ptr<RateLimiter> owned = limiter_for(1, 100, 300);
        RateLimiter& limiter = *owned;
        std::atomic<int> granted{0};
        in_threads([&](int) {
            for (int attempt = 0; attempt < 200; ++attempt) {
                granted += limiter.acquire("p/r0", start_ms).unit ? 1 : 0;
            }
        });
        ASSERT_EQ(granted.load(), 100) << "round " << round;
    }
}

TEST(RateLimiterThreads, ManyResourcesEachGrantExactlyTheirLimit) {
    constexpr int resources = 500;
    std::unique_ptr<RateLimiter> owned = limiter_for(resources, 10, 300);
    RateLimiter& limiter = *owned;
    std::vector<std::atomic<int>> granted(resources);
    in_threads([&](int thread) {
        std::mt19937 random(static_cast<std::uint32_t>(thread));
        for (int attempt = 0; attempt < resources * 4; ++attempt) {
            int index = std::uniform_int_distribution<int>(0, resources - 1)(random);
            if (limiter.acquire("p/r" + std::to_string(index), start_ms).unit) {
                granted[static_cast<std::size_t>(index)] += 1;
            }
        }
        for (int index = 0; index < resources; ++index) {  // demand beyond every limit
            for (int attempt = 0; attempt < 11; ++attempt) {
                if (limiter.acquire("p/r" + std::to_string(index), start_ms).unit) {
                    granted[static_cast<std::size_t>(index)] += 1;
                }
            }
        }
    });
    for (int index = 0; index < resources; ++index) {
        ASSERT_EQ(granted[static_cast<std::size_t>(index)].load(), 10) << "resource " << index;
    }
}

// The clock moves while threads take and give back; every kept taking is recorded with the time
// it was granted at, and no window of 50 ms holds more than 20 of them.
TEST(RateLimiterThreads, NeverMoreThanTheLimitInAnyWindowAsTimeMoves) {
    std::unique_ptr<RateLimiter> owned =
        limiter_for(1, 20, 1);  // the window is 1 s of the fake clock
    RateLimiter& limiter = *owned;
    std::atomic<std::int64_t> clock{start_ms};
    std::mutex kept_mutex;  // the test's record only, not the limiter's path
    std::vector<std::int64_t> kept;
    in_threads([&](int thread) {
        std::mt19937 random(static_cast<std::uint32_t>(thread) + 100);
        std::vector<std::int64_t> mine;
        for (int attempt = 0; attempt < 20'000; ++attempt) {
            if (thread == 0 && attempt % 10 == 0) {
                clock.fetch_add(7);
            }
            std::int64_t now_ms = clock.load();
            RateAdmission admission = limiter.acquire("p/r0", now_ms);
            if (!admission.unit) {
                continue;
            }
            if (std::uniform_int_distribution<int>(0, 3)(random) == 0) {
                RateLimiter::give_back(*admission.unit);
            } else {
                mine.push_back(now_ms);
            }
        }
        std::lock_guard lock(kept_mutex);
        kept.insert(kept.end(), mine.begin(), mine.end());
    });
    std::ranges::sort(kept);
    ASSERT_GT(kept.size(), 100U);
    for (std::size_t index = 20; index < kept.size(); ++index) {
        ASSERT_GE(kept[index] - kept[index - 20], 1000) << "at " << index;
    }
}

// Threads take and give back in a storm; afterwards, with the clock unmoved, exactly the units
// still held are missing from the budget: no give-back was lost.
TEST(RateLimiterThreads, UnitsGivenBackUnderContentionAreAllReusable) {
    std::unique_ptr<RateLimiter> owned = limiter_for(1, 64, 300);
    RateLimiter& limiter = *owned;
    std::atomic<int> held{0};
    in_threads([&](int thread) {
        std::mt19937 random(static_cast<std::uint32_t>(thread) + 7);
        std::vector<RateUnit> mine;
        for (int attempt = 0; attempt < 20'000; ++attempt) {
            if (auto unit = limiter.acquire("p/r0", start_ms).unit) {
                mine.push_back(*unit);
            }
            if (!mine.empty() && std::uniform_int_distribution<int>(0, 1)(random) == 0) {
                RateLimiter::give_back(mine.back());
                mine.pop_back();
            }
        }
        held += static_cast<int>(mine.size());
    });
    int free = 0;
    while (limiter.acquire("p/r0", start_ms).unit) {
        ++free;
    }
    EXPECT_EQ(held.load() + free, 64);
}

}  // namespace
}  // namespace relay::policy

namespace relay::policy {
namespace {

TEST(RateLimiterThreads, LoginsNeverExceedTheCap) {
    std::unique_ptr<RateLimiter> owned = limiter_for(1, 100, 300);
    RateLimiter& limiter = *owned;
    std::atomic<int> peak{0};
    std::atomic<int> inside{0};
    in_threads([&](int) {
        for (int attempt = 0; attempt < 20'000; ++attempt) {
            if (auto login = limiter.admit_login("p/r0", 3)) {
                int now = inside.fetch_add(1) + 1;
                int seen = peak.load();
                while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                }
                inside.fetch_sub(1);
                RateLimiter::end_login(*login);
            }
        }
    });
    EXPECT_LE(peak.load(), 3);
    EXPECT_EQ(limiter.logins("p/r0"), 0U);
}

}  // namespace
}  // namespace relay::policy
