// lmdb_transaction.cc -- LMDB transactions as owned values, LMDB codes as relay errors.
#include "lmdb_transaction.h"

namespace relay::store::internal {

Error lmdb_error(const std::string& what, int code) {
    if (code == MDB_MAP_FULL) {
        return Error{what + ": the store is full (raise store.map_bytes)"};
    }
    if (code > 0) {
        return system_error(what, code);
    }
    return Error{what + ": " + mdb_strerror(code)};
}

Transaction::~Transaction() {
    if (txn_ != nullptr) {
        mdb_txn_abort(txn_);
    }
}

Result<Transaction> begin_transaction(MDB_env* env, bool write) {
    MDB_txn* txn = nullptr;
    int code = mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn);
    if (code == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(env, 0);
        code = mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn);
    }
    if (code != 0) {
        return lmdb_error("cannot open a store transaction", code);
    }
    return Transaction(txn);
}

Status Transaction::commit() {
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    if (int code = mdb_txn_commit(txn); code != 0) {
        return lmdb_error("cannot write the store", code);
    }
    return {};
}

Result<std::optional<std::string>> Transaction::find(MDB_dbi dbi, std::string_view key) const {
    MDB_val key_val = to_val(key);
    MDB_val value{};
    int code = mdb_get(txn_, dbi, &key_val, &value);
    if (code == MDB_NOTFOUND) {
        return std::optional<std::string>();
    }
    if (code != 0) {
        return lmdb_error("cannot read the store", code);
    }
    return std::optional<std::string>(std::string(to_view(value)));
}

Status Transaction::put(MDB_dbi dbi, std::string_view key, std::string_view value) {
    MDB_val key_val = to_val(key);
    MDB_val value_val = to_val(value);
    if (int code = mdb_put(txn_, dbi, &key_val, &value_val, 0); code != 0) {
        return lmdb_error("cannot write the store", code);
    }
    return {};
}

Status Transaction::erase(MDB_dbi dbi, std::string_view key) {
    MDB_val key_val = to_val(key);
    int code = mdb_del(txn_, dbi, &key_val, nullptr);
    if (code != 0 && code != MDB_NOTFOUND) {
        return lmdb_error("cannot write the store", code);
    }
    return {};
}

}  // namespace relay::store::internal
