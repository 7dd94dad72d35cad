// ConnectionLimits: the total and per-client connection counts every worker shares, checked
// once per accepted connection.
#include "relay/ingress/connection_limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace relay::ingress {
namespace {

using Admission = ConnectionLimits::Admission;

TEST(ConnectionLimits, RefusesAboveTheTotalWhateverTheClient) {
    ConnectionLimits limits(3, 100);
    EXPECT_EQ(limits.admit("192.0.2.1"), Admission::admitted);
    EXPECT_EQ(limits.admit("192.0.2.2"), Admission::admitted);
    EXPECT_EQ(limits.admit("2001:db8::1"), Admission::admitted);
    EXPECT_EQ(limits.admit("192.0.2.4"), Admission::too_many_total);
    EXPECT_EQ(limits.total(), 3u);  // a refusal is not counted
    limits.release("192.0.2.2");
    EXPECT_EQ(limits.admit("192.0.2.4"), Admission::admitted);
    EXPECT_EQ(limits.total(), 3u);
}

TEST(ConnectionLimits, RefusesAboveThePerClientLimitOnlyForThatClient) {
    ConnectionLimits limits(100, 2);
    EXPECT_EQ(limits.admit("192.0.2.1"), Admission::admitted);
    EXPECT_EQ(limits.admit("192.0.2.1"), Admission::admitted);
    EXPECT_EQ(limits.admit("192.0.2.1"), Admission::too_many_from_client);
    EXPECT_EQ(limits.admit("192.0.2.2"), Admission::admitted);
    EXPECT_EQ(limits.total(), 3u);  // the refused one gave its place in the total back
    limits.release("192.0.2.1");
    EXPECT_EQ(limits.admit("192.0.2.1"), Admission::admitted);
    EXPECT_EQ(limits.admit("192.0.2.1"), Admission::too_many_from_client);
}

TEST(ConnectionLimits, ReleasingEveryConnectionRestoresTheFullAllowance) {
    ConnectionLimits limits(4, 2);
    for (int round = 0; round < 3; ++round) {
        ASSERT_EQ(limits.admit("192.0.2.1"), Admission::admitted);
        ASSERT_EQ(limits.admit("192.0.2.1"), Admission::admitted);
        ASSERT_EQ(limits.admit("192.0.2.2"), Admission::admitted);
        ASSERT_EQ(limits.admit("192.0.2.3"), Admission::admitted);
        EXPECT_EQ(limits.admit("192.0.2.4"), Admission::too_many_total);
        limits.release("192.0.2.1");
        limits.release("192.0.2.1");
        limits.release("192.0.2.2");
        limits.release("192.0.2.3");
        EXPECT_EQ(limits.total(), 0u);
    }
}

TEST(ConnectionLimits, ZeroPerClientRefusesEveryone) {
    ConnectionLimits limits(10, 0);
    EXPECT_EQ(limits.admit("192.0.2.1"), Admission::too_many_from_client);
    EXPECT_EQ(limits.total(), 0u);
}

// Workers admit and release at once: the counts stay exact and neither limit is ever exceeded.
TEST(ConnectionLimits, ConcurrentWorkersNeverExceedTheLimits) {
    constexpr std::uint32_t total_max = 64;
    constexpr std::uint32_t per_client_max = 5;
    constexpr int threads = 4;
    constexpr int rounds = 20000;
    ConnectionLimits limits(total_max, per_client_max);
    // Each client's live connections as the test sees them, checked against the limit.
    std::vector<std::atomic<int>> live(32);
    std::atomic<int> live_total{0};
    std::atomic<std::uint32_t> over_limit{0};
    std::atomic<std::uint64_t> admitted{0};
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (int thread = 0; thread < threads; ++thread) {
        workers.emplace_back([&, thread] {
            std::vector<int> held;  // client indexes this thread holds a connection for
            for (int round = 0; round < rounds; ++round) {
                int client = (round * 7 + thread * 13) % static_cast<int>(live.size());
                std::string ip = "198.51.100." + std::to_string(client);
                if (limits.admit(ip) == Admission::admitted) {
                    admitted.fetch_add(1);
                    int from_client = live[client].fetch_add(1) + 1;
                    int in_all = live_total.fetch_add(1) + 1;
                    if (from_client > static_cast<int>(per_client_max) ||
                        in_all > static_cast<int>(total_max)) {
                        over_limit.fetch_add(1);
                    }
                    held.push_back(client);
                }
                if (held.size() > 12 || (round % 3 == 0 && !held.empty())) {
                    int release = held.front();
                    held.erase(held.begin());
                    live[release].fetch_sub(1);
                    live_total.fetch_sub(1);
                    limits.release("198.51.100." + std::to_string(release));
                }
            }
            for (int client : held) {
                live[client].fetch_sub(1);
                live_total.fetch_sub(1);
                limits.release("198.51.100." + std::to_string(client));
            }
        });
    }
    for (std::thread& worker : workers) {
        worker.join();
    }
    EXPECT_EQ(over_limit.load(), 0u);
    EXPECT_GT(admitted.load(), 1000u);
    EXPECT_EQ(limits.total(), 0u);
    // Every per-client count went back to zero: each client gets its whole allowance again.
    for (int client = 0; client < 32; ++client) {
        std::string ip = "198.51.100." + std::to_string(client);
        for (std::uint32_t connection = 0; connection < per_client_max; ++connection) {
            ASSERT_EQ(limits.admit(ip), Admission::admitted) << ip;
        }
        EXPECT_EQ(limits.admit(ip), Admission::too_many_from_client) << ip;
        for (std::uint32_t connection = 0; connection < per_client_max; ++connection) {
            limits.release(ip);
        }
    }
}

}  // namespace
}  // namespace relay::ingress
