// Four threads on one throttle table, as four workers would be: no failure counted by one
// thread is lost to another's, whether they hit one key or many. Built with ThreadSanitizer,
// the same tests check that the table has no data race.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "relay/policy/login_throttle.h"

namespace {

using relay::policy::Admission;
using relay::policy::LoginThrottle;
using relay::policy::LoginThrottleSettings;

constexpr int thread_count = 4;
constexpr std::uint64_t now_ms = 1'780'000'000'000;

LoginThrottleSettings exact_lockout_at(std::uint32_t failures) {
    LoginThrottleSettings settings;
    settings.failures_before_delay = 0;
    settings.failures_before_lockout = failures;
    settings.lockout_s = 600;
    return settings;
}

relay::policy::internal::SipHashKey fixed_key() {
    relay::policy::internal::SipHashKey key{};
    key[3] = 7;
    return key;
}

constexpr int username_count = 64;

// A start line: the threads spin so that they set off together (and race), but give the core
// up while they wait for a thread that is not running (there may be fewer cores than threads).
void wait_for_all(std::atomic<int>& ready) {
    ready.fetch_add(1);
    for (int spins = 0; ready.load() < thread_count; ++spins) {
        if (spins > 1000) {
            std::this_thread::yield();
        }
    }
}

std::string username(int index) {
    return "project/user" + std::to_string(index);
}

// Each thread fails every one of the usernames `passes` times, in the same order as the other
// threads (so that they meet on the same slots), asking admit() before each failure as a
// worker would. Each thread has its own address.
void hammer(LoginThrottle& throttle, int passes) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (int thread = 0; thread < thread_count; ++thread) {
        threads.emplace_back([&throttle, &ready, thread, passes] {
            const std::string address = "192.0.2." + std::to_string(thread);
            wait_for_all(ready);
            for (int pass = 0; pass < passes; ++pass) {
                for (int index = 0; index < username_count; ++index) {
                    (void)throttle.admit(address, username(index), now_ms);
                    throttle.record_failure(address, username(index), now_ms + pass % 7);
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
}

int usernames_refused(const LoginThrottle& throttle) {
    int refused = 0;
    for (int index = 0; index < username_count; ++index) {
        refused += throttle.admit("203.0.113.1", username(index), now_ms + 10).kind ==
                   Admission::Kind::refuse;
    }
    return refused;
}

TEST(LoginThrottleThreads, NoFailureIsLostUnderContention) {
    // 4 threads x 50 passes = 200 failures a username: the lockout threshold of 200 is reached
    // only if none was lost.
    LoginThrottle throttle(exact_lockout_at(200), fixed_key());
    hammer(throttle, 50);
    EXPECT_EQ(usernames_refused(throttle), username_count);
}

TEST(LoginThrottleThreads, NoFailureIsCountedTwiceUnderContention) {
    // 4 x 49 = 196 failures a username: three more leave it one short of the lockout.
    LoginThrottle throttle(exact_lockout_at(200), fixed_key());
    hammer(throttle, 49);
    for (int index = 0; index < username_count; ++index) {
        for (int extra = 0; extra < 3; ++extra) {
            throttle.record_failure("198.51.100.1", username(index), now_ms);
        }
    }
    EXPECT_EQ(usernames_refused(throttle), 0);
    for (int index = 0; index < username_count; ++index) {
        throttle.record_failure("198.51.100.1", username(index), now_ms);
    }
    EXPECT_EQ(usernames_refused(throttle), username_count);
}

TEST(LoginThrottleThreads, NoFailureIsLostWhenAllThreadsHitOneUsername) {
    // The tightest race: four threads failing one username at once, 50 times each, in many
    // rounds on fresh tables. Every round must reach exactly 200.
    LoginThrottleSettings settings = exact_lockout_at(200);
    settings.slots = LoginThrottleSettings::slots_min;
    int rounds_short = 0;
    for (int round = 0; round < 400; ++round) {
        LoginThrottle throttle(settings, fixed_key());
        std::atomic<int> ready{0};
        std::vector<std::thread> threads;
        threads.reserve(thread_count);
        for (int thread = 0; thread < thread_count; ++thread) {
            threads.emplace_back([&throttle, &ready] {
                wait_for_all(ready);
                for (int index = 0; index < 50; ++index) {
                    throttle.record_failure("192.0.2.1", "demo/main", now_ms);
                }
            });
        }
        for (std::thread& thread : threads) {
            thread.join();
        }
        rounds_short +=
            throttle.admit("203.0.113.1", "demo/main", now_ms).kind != Admission::Kind::refuse;
    }
    EXPECT_EQ(rounds_short, 0);
}

TEST(LoginThrottleThreads, ConcurrentSuccessesAndFailuresLeaveAConsistentSlot) {
    // Successes race failures of the same username; whatever the interleaving, the success
    // that comes after them all leaves the username free.
    LoginThrottle throttle(exact_lockout_at(5), fixed_key());
    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (int thread = 0; thread < thread_count; ++thread) {
        threads.emplace_back([&throttle, thread] {
            for (int index = 0; index < 20'000; ++index) {
                if (thread % 2 == 0) {
                    throttle.record_failure("192.0.2.1", "demo/main", now_ms);
                } else {
                    throttle.record_success("192.0.2.2", "demo/main", now_ms);
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    throttle.record_success("", "demo/main", now_ms);
    EXPECT_EQ(throttle.admit("203.0.113.1", "demo/main", now_ms), Admission::check_now());
}

}  // namespace
