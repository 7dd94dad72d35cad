// delivery_latency_test.cc -- the per-worker delivery latency histograms: bucket bounds, and a
// reader summing while the workers record (no count lost or torn; clean under TSan).
#include "relay/stats/delivery_latency.h"

#include <gtest/gtest.h>

#include <thread>

namespace relay::stats {
namespace {

TEST(DeliveryLatency, BoundsAreInclusiveAndTheLastBucketTakesTheRest) {
    DeliveryLatency latency(1);
    for (std::uint64_t milliseconds : {0, 100, 101, 86'400'000, 86'400'001}) {
        latency.worker(0).record(milliseconds);
    }
    LatencySnapshot snapshot = latency.snapshot();
    EXPECT_EQ(snapshot.buckets[0], 2u);  // 0 and 100
    EXPECT_EQ(snapshot.buckets[1], 1u);  // 101
    EXPECT_EQ(snapshot.buckets[delivery_latency_buckets - 2], 1u);
    EXPECT_EQ(snapshot.buckets[delivery_latency_buckets - 1], 1u);
    EXPECT_EQ(snapshot.count(), 5u);
    EXPECT_EQ(snapshot.sum_ms, 100u + 101u + 86'400'000u + 86'400'001u);
}

TEST(DeliveryLatency, ReadersSeeEveryRecordOfEveryWorker) {
    constexpr int workers = 4;
    constexpr std::uint64_t records = 200'000;
    DeliveryLatency latency(workers);
    std::atomic<bool> done{false};
    std::thread reader([&] {
        std::uint64_t last = 0;
        while (!done.load()) {
            std::uint64_t count = latency.snapshot().count();
            EXPECT_GE(count, last);  // counts only grow
            last = count;
        }
    });
    std::vector<std::thread> writers;
    for (int index = 0; index < workers; ++index) {
        writers.emplace_back([&, index] {
            for (std::uint64_t step = 0; step < records; ++step) {
                latency.worker(index).record(step % 5'000);
            }
        });
    }
    for (std::thread& writer : writers) {
        writer.join();
    }
    done = true;
    reader.join();
    EXPECT_EQ(latency.snapshot().count(), workers * records);
}

}  // namespace
}  // namespace relay::stats
