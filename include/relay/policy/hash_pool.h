// hash_pool.h -- a few threads that check passwords, so that a worker's loop never pays for
// Argon2id (tens of milliseconds and megabytes of memory per check with the defaults).
//
// Jobs wait in one bounded queue (queue_max); `submit` refuses a job when it is full, and the
// caller answers the client "try again later" instead of queueing without limit. The queue's
// mutex is held only to push or pop a job, never during a hash.
//
// Thread: `submit` from any thread; jobs run on the pool's threads. Jobs still queued when the
// pool is destroyed are dropped (the workers that would receive their answers stop first).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "relay/base/result.h"
#include "relay/policy/password.h"

namespace relay::policy {

struct HashPoolOptions {
    std::uint32_t threads = 2;
    std::uint32_t queue_max = 1024;
    Argon2Parameters parameters;
};

class HashPool {
  public:
    // Also hashes a random password with `options.parameters`: the stand-in checked for unknown
    // usernames, so that they take as long to refuse as a wrong password.
    static Result<std::unique_ptr<HashPool>> start(const HashPoolOptions& options);
    ~HashPool();
    HashPool(const HashPool&) = delete;
    HashPool& operator=(const HashPool&) = delete;

    // False (and `job` not run) when the queue is full.
    [[nodiscard]] bool submit(std::function<void()> job);
    const std::string& stand_in_hash() const { return stand_in_hash_; }

    // True on the pool's threads; checked by the jobs that must never run on a worker.
    static bool on_pool_thread();

  private:
    explicit HashPool(const HashPoolOptions& options) : options_(options) {}
    void run();

    HashPoolOptions options_;
    std::string stand_in_hash_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace relay::policy
