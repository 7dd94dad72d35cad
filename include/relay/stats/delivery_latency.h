// delivery_latency.h -- how long mail takes from acceptance (the 250 after DATA) to delivery
// (the destination's 250), as a histogram per worker for Prometheus (admin/metrics).
//
// Each worker owns a WorkerLatency and is its only writer: a delivery adds one to a bucket and
// its milliseconds to the sum with a relaxed load and store (no lock, no read-modify-write, no
// system call). The admin thread reads every worker's buckets with relaxed loads and adds them
// up; a scrape that races a delivery sees it or not, never a torn count. Workers' tables sit on
// their own cache lines.
//
// Thread: record() on the owning worker only; snapshot() on any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace relay::stats {

// Upper bounds of the buckets, in milliseconds: 100 ms to one day; one more bucket past the last.
inline constexpr std::array<std::uint64_t, 14> delivery_latency_bounds_ms = {
    100,    250,    500,     1'000,   2'500,     5'000,      10'000,
    30'000, 60'000, 300'000, 900'000, 3'600'000, 14'400'000, 86'400'000};
inline constexpr std::size_t delivery_latency_buckets = delivery_latency_bounds_ms.size() + 1;

struct LatencySnapshot {
    std::array<std::uint64_t, delivery_latency_buckets> buckets{};  // not cumulative
    std::uint64_t sum_ms = 0;
    std::uint64_t count() const;
};

class alignas(64) WorkerLatency {
  public:
    void record(std::uint64_t latency_ms);
    void add_to(LatencySnapshot& into) const;

  private:
    std::array<std::atomic<std::uint64_t>, delivery_latency_buckets> buckets_{};
    std::atomic<std::uint64_t> sum_ms_{0};
};

class DeliveryLatency {
  public:
    explicit DeliveryLatency(int workers);
    WorkerLatency& worker(int index) { return *workers_[static_cast<std::size_t>(index)]; }
    LatencySnapshot snapshot() const;

  private:
    std::vector<std::unique_ptr<WorkerLatency>> workers_;
};

}  // namespace relay::stats
