// stop_list_replica.h -- a node's LMDB stop lists kept as a replica of the lists in Redis.
//
// Redis holds the truth (redis_keys.h); the workers keep reading the node's LMDB database
// (StopListReader, a microsecond, no network), which this replica follows: each change in Redis
// is an entry of the stop-log stream numbered by relay:{tenants}:stop-seq, and the replica applies
// the entries after the last one it applied, in order, in one LMDB transaction per batch. It
// reloads everything (one consistent read, checked with WATCH) when it starts, when the next
// entry is not the next number (the stream was trimmed past it), or when Redis's number went
// backwards (Redis lost its data). While Redis cannot be reached the database keeps the last
// state: lookups go on answering from it.
//
// Thread: one thread calls catch_up (the store's change watcher); the database it writes is read
// by every worker at the same time, as LMDB allows.
#pragma once

#include <cstdint>
#include <string>

#include "lmdb_stop_lists.h"
#include "redis_connection.h"

namespace relay::store::internal {

class StopListReplica {
  public:
    StopListReplica(RedisConnectionOptions options, LmdbStopLists& local)
        : connection_(std::move(options)), local_(local) {}

    // Applies what Redis has and the replica has not.
    Status catch_up();
    // The number of the last change applied (for tests and logs).
    std::uint64_t applied_seq() const { return applied_seq_; }

  private:
    Status resync();
    // One batch of the log; true when the log may hold more.
    Result<bool> follow();

    RedisConnection connection_;
    LmdbStopLists& local_;
    bool synced_ = false;
    std::uint64_t applied_seq_ = 0;
    std::string applied_id_ = "0-0";  // stream id of the entry numbered applied_seq_
};

}  // namespace relay::store::internal
