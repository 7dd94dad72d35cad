// flusher.h -- the thread that moves the workers' counts (recorder.h) into the statistics store
// every interval, prunes expired buckets, and flushes once more when stopped.
//
// What a crash loses: the counts of the last interval (at most `interval_ms`, 2 s by default),
// which were only in memory. A clean stop (SIGTERM) calls stop() after the workers have ended,
// so the final flush holds every count. A batch the store refuses (disk full) is kept and
// retried, up to `pending_deltas_max` deltas; past that the oldest batch is dropped and logged.
//
// Thread: its own; start() and stop() from the thread that owns it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "relay/base/result.h"
#include "relay/stats/recorder.h"
#include "relay/store/stats_store.h"

namespace relay::stats {

struct FlusherOptions {
    std::uint64_t interval_ms = 2000;
    std::uint64_t prune_interval_s = 600;
    std::size_t pending_deltas_max = 1'000'000;
};

class Flusher {
  public:
    Flusher(Recorder& recorder, store::StatsStore& store, FlusherOptions options = {});
    ~Flusher();
    Flusher(const Flusher&) = delete;
    Flusher& operator=(const Flusher&) = delete;

    void start();
    // Ends the thread after one last flush. Call it once the workers no longer count.
    void stop();
    // One flush now, on the caller's thread (tests, and stop() when the thread never ran).
    Status flush_now();

  private:
    void run();

    Recorder& recorder_;
    store::StatsStore& store_;
    FlusherOptions options_;
    std::vector<store::StatsDelta> pending_;  // refused by the store, retried next time
    std::uint64_t last_prune_s_ = 0;
    std::uint64_t dropped_logged_ = 0;
    std::mutex mutex_;  // the flusher's own wake-up, never taken by a worker
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace relay::stats
