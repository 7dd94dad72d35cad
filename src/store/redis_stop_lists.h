// redis_stop_lists.h -- the stop lists of the shared store: written to Redis, read from the node's
// replica (stop_list_replica.h).
//
// A write is an optimistic transaction as the tenants' are (redis_tenant_store.cc): WATCH the
// tenant generation (a resource scope must exist, and a resource removed meanwhile would
// otherwise keep a stray entry) and the stop-log number, check, then MULTI, the hash writes and
// their log entries (redis_stop_log.h), a PUBLISH, EXEC. Lists and exports read Redis; lookups
// (find_stop, the workers' readers) read the local replica, which follows within a second.
//
// Thread: any, one call at a time or concurrently (one connection behind a mutex).
#pragma once

#include <memory>
#include <mutex>

#include "lmdb_stop_lists.h"
#include "redis_connection.h"

namespace relay::store::internal {

class RedisStopLists final : public StopListStore {
  public:
    RedisStopLists(RedisConnectionOptions options, StopListStore& local)
        : connection_(std::move(options)), local_(local) {}

    Status add_stop(const StopEntry& entry) override;
    Status add_stops(std::span<const StopEntry> entries) override;
    Result<bool> remove_stop(const std::string& scope, const StopAddress& address) override;
    Status for_each_stop(const std::string& scope,
                         const std::function<void(const StopEntry&)>& visit) override;
    Result<std::optional<StopEntry>> find_stop(const std::string& username,
                                               std::string_view recipient,
                                               std::uint64_t now_s) override {
        return local_.find_stop(username, recipient, now_s);
    }
    Result<std::unique_ptr<StopListReader>> reader() override { return local_.reader(); }

  private:
    // Writes `changes` once `check` (run under WATCH) passes; `check` may drop changes (a
    // removal of an entry that is not there) by clearing them.
    Status write(std::vector<StopChange>& changes,
                 const std::function<Status(std::vector<StopChange>&)>& check);

    std::mutex mutex_;
    RedisConnection connection_;
    StopListStore& local_;
};

}  // namespace relay::store::internal
