// lmdb_transaction.h -- small owners for LMDB handles, so that every path out of a transaction ends
// it.
//
// Thread: a transaction belongs to the thread that began it (MDB_NOTLS lets read transactions
// move, but this code never does that).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::store::internal {

Error lmdb_error(const std::string& what, int code);

inline MDB_val to_val(std::string_view bytes) {
    return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view to_view(const MDB_val& value) {
    return {static_cast<const char*>(value.mv_data), value.mv_size};
}

// Aborts on destruction unless committed.
class Transaction {
  public:
    Transaction() = default;
    explicit Transaction(MDB_txn* txn) : txn_(txn) {}
    Transaction(Transaction&& other) noexcept : txn_(other.txn_) { other.txn_ = nullptr; }
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    ~Transaction();

    MDB_txn* get() const { return txn_; }
    Status commit();

    // The value under `key`, nullopt when absent.
    Result<std::optional<std::string>> find(MDB_dbi dbi, std::string_view key) const;
    Status put(MDB_dbi dbi, std::string_view key, std::string_view value);
    Status erase(MDB_dbi dbi, std::string_view key);

  private:
    MDB_txn* txn_ = nullptr;
};

// Begins a transaction on `env`. A store another process has grown (relayctl and relayd share
// it) makes the first attempt fail with MDB_MAP_RESIZED: the map adopts the new size and the
// transaction begins again.
Result<Transaction> begin_transaction(MDB_env* env, bool write);

// Calls `visit(key, value)` for each entry whose key starts with `prefix`, in key order.
template <class Visit>
Status for_each_prefixed(const Transaction& txn, MDB_dbi dbi, std::string_view prefix,
                         Visit visit) {
    MDB_cursor* cursor = nullptr;
    if (int code = mdb_cursor_open(txn.get(), dbi, &cursor); code != 0) {
        return lmdb_error("cannot read the store", code);
    }
    MDB_val key = to_val(prefix);
    MDB_val value{};
    int code = mdb_cursor_get(cursor, &key, &value, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
    while (code == 0 && to_view(key).substr(0, prefix.size()) == prefix) {
        visit(to_view(key), to_view(value));
        code = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (code != 0 && code != MDB_NOTFOUND) {
        return lmdb_error("cannot read the store", code);
    }
    return {};
}

}  // namespace relay::store::internal
