// recorder.h -- counting statistics on the workers without a lock, and handing the counts to
// a flusher thread that writes them to the store in batches.
//
// Each worker owns a WorkerCounter: two tables keyed by (resource, sender domain, minute), of
// which the worker adds to the active one. The flusher switches the active table and, once the
// worker is out of the other one, reads and clears it. The hand-over is two sequentially
// consistent atomics (the worker's `busy` flag, the active index): the worker raises `busy`
// before it reads the index, the flusher changes the index before it reads `busy`, so when the
// flusher sees `busy` low every later count goes to the new table (Dekker's argument). The
// worker never waits; the flusher waits at most for one count to finish.
//
// Bounds: a table holds at most `keys_max` keys between two flushes; a count that needs one more
// is added to the "no resource" bucket's key of that minute if it can, else counted as dropped
// (logged by the flusher). Scopes come from logged-in resources and their own domains, so
// the keys of one interval are few in practice.
//
// Thread: count() on the owning worker only; drain() on one thread (the flusher) only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/store/stats_store.h"

namespace relay::stats {

namespace internal {
struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
        return std::hash<std::string_view>{}(key);
    }
};
using Table = std::unordered_map<std::string, store::StatsCounts, KeyHash, std::equal_to<>>;
}  // namespace internal

class WorkerCounter {
  public:
    explicit WorkerCounter(std::size_t keys_max = 65536);

    // Adds `amount` to `counter` of `resource` (empty: no resource) and of its sender `domain`
    // (empty: none) in the minute of `now_s`. No lock, no system call; allocates only for a key
    // not yet seen since the last flush.
    void count(std::string_view resource, std::string_view domain, store::StatsCounter counter,
               std::uint64_t now_s, std::uint64_t amount = 1);

    // Flusher: appends what was counted since the last drain (per scope and minute).
    void drain(std::vector<store::StatsDelta>& into);
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  private:
    std::size_t keys_max_;
    internal::Table tables_[2];
    std::atomic<int> active_{0};
    std::atomic<bool> busy_{false};
    std::string key_;  // the worker's scratch key
    std::atomic<std::uint64_t> dropped_{0};
};

// One WorkerCounter per thread that counts: each worker, and any other thread that counts (the
// bounce processor: complaints, stop_listed) with its own index.
class Recorder {
  public:
    explicit Recorder(int workers, std::size_t keys_max = 65536);
    WorkerCounter& worker(int index) { return *workers_[static_cast<std::size_t>(index)]; }
    // Flusher: every worker's counts since the last drain.
    std::vector<store::StatsDelta> drain();
    std::uint64_t dropped() const;

  private:
    std::vector<std::unique_ptr<WorkerCounter>> workers_;
};

}  // namespace relay::stats
