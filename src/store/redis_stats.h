// redis_stats.h -- the statistics of cluster mode's shared store: every node's flusher adds its
// counts to the same Redis buckets, so a report on any node is the fleet's.
//
//     relay:{stats}:KIND:NAME:t               hash COUNTER -> count (the scope's total)
//     relay:{stats}:KIND:NAME:m:MINUTE        hash COUNTER -> count, expires after 49 hours
//     relay:{stats}:KIND:NAME:h:HOUR          hash COUNTER -> count, expires after 91 days
//     relay:{stats}:KIND:NAME:m, ...:h        sorted sets of the buckets that exist (score and
//                                             member the bucket number), for series and pruning
//     relay:{stats}:scopes:KIND               set of the scope names that counted something
//
// KIND is r (resource) or d (sender domain). A flush is one MULTI/EXEC of HINCRBYs: additions
// commute, so nodes flushing at the same time need no WATCH, and a reader never sees a minute
// without its hour.
//
// Thread: any, one call at a time or concurrently (one connection behind a mutex). Blocks on
// Redis; never called on a worker.
#pragma once

#include <mutex>

#include "redis_connection.h"
#include "relay/store/stats_store.h"

namespace relay::store::internal {

class RedisStats final : public StatsStore {
  public:
    explicit RedisStats(RedisConnectionOptions options) : connection_(std::move(options)) {}

    Status add_stats(std::span<const StatsDelta> deltas) override;
    Result<std::uint64_t> prune_stats(std::uint64_t now_s) override;
    Result<StatsCounts> sum_stats(const StatsScope& scope, std::uint64_t since_s,
                                  std::uint64_t now_s) override;
    Result<std::vector<StatsBucket>> stats_series(const StatsScope& scope, std::uint64_t bucket_s,
                                                  std::uint64_t since_s) override;
    Result<std::vector<std::string>> stats_scopes(StatsScopeKind kind) override;

  private:
    std::mutex mutex_;
    RedisConnection connection_;
};

}  // namespace relay::store::internal
