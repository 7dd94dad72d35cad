// lmdb_stats.h -- the statistics in the tenant store's LMDB environment.
//
//     stats   KIND NAME \0 GRAIN BUCKET -> "N0 N1 ... N14"
//
// KIND is 'r' (resource; NAME empty for "no resource") or 'd' (sender domain); GRAIN is 'm'
// (BUCKET = unix minute), 'h' (unix hour) or 't' (the total, BUCKET 0); BUCKET is 8 bytes
// big-endian, so one scope's buckets of one grain are one key range in time order. The value is
// the counters in StatsCounter order as decimal text, readable with mdb_dump; a value with fewer
// numbers (written before a counter was added) reads the missing ones as 0.
//
// Thread: like the store that owns it (one call at a time). The environment outlives it.
#pragma once

#include <lmdb.h>

#include <memory>

#include "lmdb_transaction.h"
#include "relay/store/stats_store.h"

namespace relay::store::internal {

class LmdbStats final : public StatsStore {
  public:
    static Result<std::unique_ptr<LmdbStats>> open(MDB_env* env);
    LmdbStats(MDB_env* env, MDB_dbi buckets) : env_(env), buckets_(buckets) {}

    Status add_stats(std::span<const StatsDelta> deltas) override;
    Result<std::uint64_t> prune_stats(std::uint64_t now_s) override;
    Result<StatsCounts> sum_stats(const StatsScope& scope, std::uint64_t since_s,
                                  std::uint64_t now_s) override;
    Result<std::vector<StatsBucket>> stats_series(const StatsScope& scope, std::uint64_t bucket_s,
                                                  std::uint64_t since_s) override;
    Result<std::vector<std::string>> stats_scopes(StatsScopeKind kind) override;

  private:
    Result<Transaction> begin(bool write) const;

    MDB_env* env_;
    MDB_dbi buckets_;
};

}  // namespace relay::store::internal
