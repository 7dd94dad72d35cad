// change_watcher.h -- a node's ear on the shared store: a thread subscribed to relay:changes.
//
// Every change committed to the shared store (redis_tenant_store.h) is published on
// relay:changes; the watcher calls `on_change` for each message, once after every
// (re)connection (messages published while it was away are lost), and every `poll_ms` as a
// safety net. The watcher also keeps Redis's health as seen from this node:
// since when it has not answered (0 while it answers), read by the AUTH decision without a lock.
//
// Thread: a thread of its own with its own blocking connection (a subscribed connection can
// send nothing else); `on_change` runs on it and must not block for long. Not a worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "relay/store/redis_tenant_store.h"

namespace relay::store {

struct ChangeWatcherOptions {
    RedisStoreOptions redis;
    std::uint32_t reconnect_ms = 500;  // wait between attempts while Redis does not answer
    // `on_change` runs at least this often without a message too: a lost message (or one
    // published between a failure and the resubscription) is made good within it.
    std::uint32_t poll_ms = 1000;
};

class ChangeWatcher {
  public:
    ChangeWatcher(ChangeWatcherOptions options, std::function<void()> on_change);
    ~ChangeWatcher();  // stops the thread
    ChangeWatcher(const ChangeWatcher&) = delete;
    ChangeWatcher& operator=(const ChangeWatcher&) = delete;

    void start();
    // steady_clock milliseconds since which Redis has not answered; 0 while it answers.
    std::int64_t unreachable_since_ms() const {
        return unreachable_since_ms_.load(std::memory_order_relaxed);
    }
    // The same, for readers that keep only the atomic (the workers' AUTH).
    const std::atomic<std::int64_t>& unreachable_since() const { return unreachable_since_ms_; }

  private:
    void run();
    void mark(bool reachable, const std::string& why);

    ChangeWatcherOptions options_;
    std::function<void()> on_change_;
    std::atomic<std::int64_t> unreachable_since_ms_{0};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace relay::store
