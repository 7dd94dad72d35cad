// delivery_latency.cc -- the per-worker delivery latency histograms.
//
// Thread: see delivery_latency.h. record() makes no system call and takes no lock.
#include "relay/stats/delivery_latency.h"

#include <algorithm>

namespace relay::stats {

std::uint64_t LatencySnapshot::count() const {
    std::uint64_t total = 0;
    for (std::uint64_t bucket : buckets) {
        total += bucket;
    }
    return total;
}

void WorkerLatency::record(std::uint64_t latency_ms) {
    auto bound = std::lower_bound(delivery_latency_bounds_ms.begin(),
                                  delivery_latency_bounds_ms.end(), latency_ms);
    auto index = static_cast<std::size_t>(bound - delivery_latency_bounds_ms.begin());
    std::atomic<std::uint64_t>& bucket = buckets_[index];
    // One writer: a load and a store, no locked instruction.
    bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_ms_.store(sum_ms_.load(std::memory_order_relaxed) + latency_ms, std::memory_order_relaxed);
}

void WorkerLatency::add_to(LatencySnapshot& into) const {
    for (std::size_t index = 0; index < delivery_latency_buckets; ++index) {
        into.buckets[index] += buckets_[index].load(std::memory_order_relaxed);
    }
    into.sum_ms += sum_ms_.load(std::memory_order_relaxed);
}

DeliveryLatency::DeliveryLatency(int workers) {
    for (int index = 0; index < workers; ++index) {
        workers_.push_back(std::make_unique<WorkerLatency>());
    }
}

LatencySnapshot DeliveryLatency::snapshot() const {
    LatencySnapshot snapshot;
    for (const auto& worker : workers_) {
        worker->add_to(snapshot);
    }
    return snapshot;
}

}  // namespace relay::stats
