// client_rate_test.cc -- new connections per client address in any minute: a sliding window on a
// fixed clock, each address on its own, threads of several workers admitting at once (exactly the
// limit per address), and ConnectionLimits giving back the counts of a connection the rate
// refuses.
#include "relay/ingress/client_rate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "relay/ingress/connection_limits.h"

namespace relay::ingress {
namespace {

constexpr std::int64_t start_ms = 10'000'000;

int admit_all(ClientRate& rate, const std::string& ip, std::int64_t now_ms) {
    int admitted = 0;
    while (admitted < 1000 && rate.admit(ip, now_ms)) {
        ++admitted;
    }
    return admitted;
}

TEST(ClientRate, AtMostTheLimitInAnyMinuteSliding) {
    ClientRate rate(5);
    EXPECT_EQ(admit_all(rate, "192.0.2.1", start_ms + 59'000), 5);
    EXPECT_EQ(admit_all(rate, "192.0.2.1", start_ms + 61'000), 0);  // no fixed minute boundary
    EXPECT_EQ(admit_all(rate, "192.0.2.1", start_ms + 59'000 + 59'999), 0);
    EXPECT_EQ(admit_all(rate, "192.0.2.1", start_ms + 59'000 + 60'000), 5);
}

TEST(ClientRate, EachAddressHasItsOwnCount) {
    ClientRate rate(3);
    EXPECT_EQ(admit_all(rate, "192.0.2.1", start_ms), 3);
    EXPECT_EQ(admit_all(rate, "192.0.2.2", start_ms), 3);
    EXPECT_EQ(admit_all(rate, "2001:db8::1", start_ms), 3);
}

TEST(ClientRate, ZeroIsOff) {
    ClientRate rate(0);
    EXPECT_EQ(admit_all(rate, "192.0.2.1", start_ms), 1000);
}

TEST(ClientRate, ThreadsAdmitExactlyTheLimitPerAddress) {
    constexpr int thread_count = 8;
    constexpr int addresses = 50;
    ClientRate rate(20);
    std::vector<std::atomic<int>> admitted(addresses);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (int thread = 0; thread < thread_count; ++thread) {
        threads.emplace_back([&] {
            ready.fetch_add(1);
            while (ready.load() < thread_count) {
                std::this_thread::yield();
            }
            for (int round = 0; round < 10; ++round) {
                for (int index = 0; index < addresses; ++index) {
                    if (rate.admit("10.0.0." + std::to_string(index), start_ms)) {
                        admitted[static_cast<std::size_t>(index)] += 1;
                    }
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    // 80 tries per address: never more than 20; exactly 20 unless its entry is shared.
    int exact = 0;
    for (int index = 0; index < addresses; ++index) {
        int count = admitted[static_cast<std::size_t>(index)].load();
        ASSERT_LE(count, 20) << index;
        exact += count == 20 ? 1 : 0;
    }
    EXPECT_GE(exact, addresses - 2);
}

TEST(ClientRate, ConnectionLimitsReturnTheCountsOfARefusedConnection) {
    ConnectionLimits limits(100, 100);
    limits.limit_client_rate(2);
    EXPECT_EQ(limits.admit("192.0.2.1"), ConnectionLimits::Admission::admitted);
    EXPECT_EQ(limits.admit("192.0.2.1"), ConnectionLimits::Admission::admitted);
    EXPECT_EQ(limits.admit("192.0.2.1"),
              ConnectionLimits::Admission::too_many_per_minute_from_client);
    EXPECT_EQ(limits.total(), 2U);
    limits.release("192.0.2.1");
    limits.release("192.0.2.1");
    EXPECT_EQ(limits.total(), 0U);
    EXPECT_EQ(limits.admit("192.0.2.1"),
              ConnectionLimits::Admission::too_many_per_minute_from_client);
}

}  // namespace
}  // namespace relay::ingress
