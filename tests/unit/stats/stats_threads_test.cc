// stats_threads_test.cc -- workers counting while the flusher drains them: every count is in
// the store once, none twice, none lost, with the final drain after the workers stop (the
// SIGTERM path). Built under ThreadSanitizer by tools/test.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "../store/store_test_support.h"
#include "relay/stats/flusher.h"
#include "relay/stats/recorder.h"

namespace relay::stats {
namespace {

using store::StatsCounter;

class StatsThreadsTest : public store::testing::StoreFixture {};

TEST_F(StatsThreadsTest, ConcurrentCountsAndFlushesLoseNothing) {
    constexpr int workers = 4;
    constexpr std::uint64_t counts_per_worker = 200'000;
    constexpr std::uint64_t base_s = 1'796'000'400;
    Recorder recorder(workers);
    Flusher flusher(recorder, store_->stats(), FlusherOptions{5, 600, 1'000'000});
    flusher.start();
    std::vector<std::thread> threads;
    for (int worker = 0; worker < workers; ++worker) {
        threads.emplace_back([&recorder, worker] {
            WorkerCounter& counter = recorder.worker(worker);
            const std::string name = "p/r" + std::to_string(worker % 2);
            for (std::uint64_t index = 0; index < counts_per_worker; ++index) {
                // Minutes change under the flusher's feet, as they do in a long run.
                counter.count(name, "d.example", StatsCounter::accepted, base_s + index / 1000);
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    flusher.stop();
    std::uint64_t total = 0;
    for (const char* name : {"p/r0", "p/r1"}) {
        auto sum = store_->stats().sum_stats({store::StatsScopeKind::resource, name}, 0, base_s);
        ASSERT_TRUE(sum) << sum.error().message;
        EXPECT_EQ(sum.value()[0], counts_per_worker * workers / 2) << name;
        total += sum.value()[0];
    }
    auto domain =
        store_->stats().sum_stats({store::StatsScopeKind::domain, "d.example"}, 0, base_s);
    ASSERT_TRUE(domain);
    EXPECT_EQ(domain.value()[0], total);
    EXPECT_EQ(recorder.dropped(), 0u);
}

}  // namespace
}  // namespace relay::stats
