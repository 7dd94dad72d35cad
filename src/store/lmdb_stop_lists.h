// lmdb_stop_lists.h -- the stop lists in the tenant store's LMDB environment.
//
//     stop_lists   SCOPE \0 DOMAIN \0 LOCAL -> "REASON ADDED_S EXPIRES_S"
//
// SCOPE is empty for the global list, else the resource's PROJECT/NAME; LOCAL is empty for a
// whole-domain entry. So one resource's entries are one key range (listed, exported and erased
// with one cursor), and a lookup is at most four point reads. The value is short text, readable
// with mdb_dump; EXPIRES_S 0 is "never".
//
// Thread: the LmdbStopLists object like the store that owns it (one call at a time); each
// reader on its own thread. The environment outlives both.
#pragma once

#include <lmdb.h>

#include <memory>
#include <string>

#include "lmdb_transaction.h"
#include "relay/store/stop_list_store.h"

namespace relay::store::internal {

class LmdbStopLists final : public StopListStore {
  public:
    // Opens (creates) the stop_lists database; `resources` is the tenant store's resources
    // database, where a resource scope must exist.
    static Result<std::unique_ptr<LmdbStopLists>> open(MDB_env* env, MDB_dbi resources);

    LmdbStopLists(MDB_env* env, MDB_dbi entries, MDB_dbi resources)
        : env_(env), entries_(entries), resources_(resources) {}

    Status add_stop(const StopEntry& entry) override;
    Status add_stops(std::span<const StopEntry> entries) override;
    Result<bool> remove_stop(const std::string& scope, const StopAddress& address) override;
    Status for_each_stop(const std::string& scope,
                         const std::function<void(const StopEntry&)>& visit) override;
    Result<std::optional<StopEntry>> find_stop(const std::string& username,
                                               std::string_view recipient,
                                               std::uint64_t now_s) override;
    Result<std::unique_ptr<StopListReader>> reader() override;

    // Erases every entry of `scope` inside the caller's write transaction (a resource's removal).
    Status erase_scope(Transaction& txn, const std::string& scope) const;

  private:
    Result<Transaction> begin(bool write) const;
    Status put(Transaction& txn, const StopEntry& entry) const;

    MDB_env* env_;
    MDB_dbi entries_;
    MDB_dbi resources_;
};

}  // namespace relay::store::internal
