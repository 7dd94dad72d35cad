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

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "lmdb_transaction.h"
#include "relay/store/stop_list_store.h"
#include "relay/store/tenant_store.h"

namespace relay::store::internal {

// One change of a stop-list replica (cluster mode, stop_list_replica.h): an entry written or
// erased, or a whole scope dropped (its resource was removed). `field` is "DOMAIN \0 LOCAL" and
// `value` the entry's value, both as in this database.
struct StopChange {
    enum class Kind : std::uint8_t { put, erase, drop_scope };
    Kind kind = Kind::put;
    std::string scope;
    std::string field;
    std::string value;
};

// The parts of an entry's record, shared with the Redis copy of the lists.
std::string stop_field(const StopAddress& address);
std::string stop_value(const StopEntry& entry);
// False when the record is damaged.
bool decode_stop(std::string_view scope, std::string_view field, std::string_view value,
                 StopEntry& entry);

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

    // A replica's changes, in one transaction; `replace` empties the database first (a full
    // resync). No rule is checked: the source of truth did.
    Status apply(std::span<const StopChange> changes, bool replace);

    // Erases every entry of `scope` inside the caller's write transaction (a resource's removal).
    Status erase_scope(Transaction& txn, const std::string& scope) const;

  private:
    Result<Transaction> begin(bool write) const;
    Status put(Transaction& txn, const StopEntry& entry) const;

    MDB_env* env_;
    MDB_dbi entries_;
    MDB_dbi resources_;
};

// The stop lists of an LMDB tenant store (open_lmdb_tenant_store), or null for another backend.
LmdbStopLists* lmdb_stop_lists(TenantStore& store);

}  // namespace relay::store::internal
