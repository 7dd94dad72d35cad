// stats_bench.cc -- what one statistics count costs a worker (stats/recorder.h): a key already
// in the table (the common case: the same resource, domain and minute as the message before),
// with a flusher draining another thread's table meanwhile or not, and a store flush of a
// batch; and the memory of a worker's table filled to its bound of keys.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "relay/stats/recorder.h"
#include "relay/store/lmdb_tenant_store.h"

namespace {

using relay::store::StatsCounter;
constexpr std::uint64_t base_s = 1'796'000'400;

void BM_CountKnownKey(benchmark::State& state) {
    relay::stats::Recorder recorder(1);
    relay::stats::WorkerCounter& counter = recorder.worker(0);
    std::uint64_t index = 0;
    for (auto _ : state) {
        counter.count("project/resource", "example.com", StatsCounter::accepted,
                      base_s + (++index >> 20));
    }
}
BENCHMARK(BM_CountKnownKey);

// The worker counts while another thread drains every millisecond, as the flusher does (every
// 2 s in relayd): the cost of the hand-over on the worker's side.
void BM_CountWhileDrained(benchmark::State& state) {
    relay::stats::Recorder recorder(1);
    relay::stats::WorkerCounter& counter = recorder.worker(0);
    std::atomic<bool> stop{false};
    std::thread flusher([&] {
        while (!stop.load()) {
            benchmark::DoNotOptimize(recorder.drain());
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    for (auto _ : state) {
        counter.count("project/resource", "example.com", StatsCounter::accepted, base_s);
    }
    stop = true;
    flusher.join();
}
BENCHMARK(BM_CountWhileDrained);

// One flush: 100 resources with a domain each, one minute (what 2 s of a busy relay hold).
void BM_FlushHundredResources(benchmark::State& state) {
    char pattern[] = "/tmp/relay-stats-bench-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
        state.SkipWithError("mkdtemp");
        return;
    }
    auto store = relay::store::open_lmdb_tenant_store({std::string(pattern) + "/store"});
    relay::stats::Recorder recorder(1);
    std::uint64_t minute = 0;
    for (auto _ : state) {
        ++minute;
        for (int resource = 0; resource < 100; ++resource) {
            recorder.worker(0).count("p/r" + std::to_string(resource),
                                     "d" + std::to_string(resource) + ".example",
                                     StatsCounter::delivered, base_s + minute * 60);
        }
        auto deltas = recorder.drain();
        if (!store.value()->stats().add_stats(deltas)) {
            state.SkipWithError("add_stats");
            break;
        }
    }
    store.value().reset();
    std::filesystem::remove_all(pattern);
}
BENCHMARK(BM_FlushHundredResources)->Unit(benchmark::kMillisecond);

// Resident memory of this process, in bytes (/proc/self/statm).
double resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0;
    std::uint64_t resident = 0;
    statm >> size >> resident;
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// The worst case of one worker's table: keys_max (65,536) distinct resource, domain and minute
// keys between two flushes. Reported as table_bytes, the resident memory the filled table adds
// (the allocator's, so mimalloc's when linked), and the same again after a drain.
void BM_TableAtItsBound(benchmark::State& state) {
    for (auto _ : state) {
        double before = resident_bytes();
        auto recorder = std::make_unique<relay::stats::Recorder>(1);
        relay::stats::WorkerCounter& counter = recorder->worker(0);
        for (int key = 0; key < 65'536; ++key) {
            counter.count(
                "project-" + std::to_string(key % 1000) + "/resource-" + std::to_string(key),
                "sender-domain-" + std::to_string(key) + ".example", StatsCounter::delivered,
                base_s);
        }
        double filled = resident_bytes();
        benchmark::DoNotOptimize(recorder->drain());
        state.counters["table_bytes"] = filled - before;
        state.counters["after_drain_bytes"] = resident_bytes() - before;
        state.counters["dropped"] = static_cast<double>(counter.dropped());
    }
}
BENCHMARK(BM_TableAtItsBound)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
