// tenant_snapshots.h -- the current TenantSnapshot, kept up to date with the store by one thread.
//
// Once per `refresh_interval_ms` the refresh thread reads the store's generation (one cheap
// read transaction); only when it changed does it load the tenants and build a new snapshot.
// So a change made with relayctl reaches every worker within about one interval, and an idle
// store costs one small read per interval, however many workers there are.
//
// Publishing: the snapshot is a `std::shared_ptr<const TenantSnapshot>` in a
// `std::atomic<std::shared_ptr<...>>`. A reader's `current()` is a load that takes a reference;
// the writer's store swaps the pointer. Nobody waits for a rebuild, and an old snapshot lives on
// until its last reader lets go. (libstdc++ guards the pointer with a spin bit held only for the
// reference count update, not a mutex; a per-worker copy posted through each inbox would avoid
// even that, at the cost of coupling this part to the engine.)
//
// Thread: `current` from any thread; `start`/`stop`/`refresh` from the owner's thread. The
// refresh thread alone touches the store after `start`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "relay/base/result.h"
#include "relay/policy/tenant_snapshot.h"
#include "relay/store/tenant_store.h"

namespace relay::policy {

class TenantSnapshots {
  public:
    explicit TenantSnapshots(store::TenantStore& store);
    ~TenantSnapshots();
    TenantSnapshots(const TenantSnapshots&) = delete;
    TenantSnapshots& operator=(const TenantSnapshots&) = delete;

    std::shared_ptr<const TenantSnapshot> current() const { return current_.load(); }

    // Rebuilds the snapshot if the store's generation moved; true if it published a new one.
    Result<bool> refresh();
    // Starts the refresh thread (after a first refresh here, whose error it returns).
    Status start(std::uint32_t refresh_interval_ms);
    void stop();
    // Refreshes now rather than at the end of the interval (a change notification from the
    // shared store); from any thread.
    void wake();

    // Called with each new snapshot just before it is published (on the thread that refreshes;
    // set before `start`): state kept beside the snapshot, such as the rate limiter's budgets,
    // is ready before any session sees the snapshot.
    void set_before_publish(std::function<void(const TenantSnapshot&)> before_publish) {
        before_publish_ = std::move(before_publish);
    }

  private:
    void run(std::uint32_t refresh_interval_ms);

    store::TenantStore& store_;
    std::atomic<std::shared_ptr<const TenantSnapshot>> current_;
    std::mutex stop_mutex_;  // only for waking the refresh thread (to stop, or to refresh now)
    std::condition_variable stop_signal_;
    bool stopping_ = false;
    bool woken_ = false;
    std::thread thread_;
    std::function<void(const TenantSnapshot&)> before_publish_;
};

}  // namespace relay::policy
