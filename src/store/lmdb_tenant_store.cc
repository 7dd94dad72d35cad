// lmdb_tenant_store.cc -- the tenant rules (tenant_rules.h) inside LMDB write transactions.
//
// Each change runs in one write transaction: the rule reads what it needs, checks it and writes;
// then the generation advances and the transaction commits. LMDB lets one writer in at a time
// across processes, so two relayctl runs cannot both take the last slot of a quota. A process
// killed before the commit leaves nothing behind (its pages were never reachable); one killed after
// leaves the whole change. Stale reader slots of killed processes are cleared at open
// (mdb_reader_check).
//
// Thread: any, one call at a time (MDB_NOTLS). Blocking: only for relayctl and the tenant
// snapshot thread, never a worker's loop.
#include "relay/store/lmdb_tenant_store.h"

#include <sys/stat.h>

#include <filesystem>

#include "lmdb_admin_tokens.h"
#include "lmdb_message_index.h"
#include "lmdb_stats.h"
#include "lmdb_stop_lists.h"
#include "lmdb_transaction.h"
#include "tenant_codec.h"
#include "tenant_rules.h"

namespace relay::store {
namespace {

using internal::Table;
using internal::Transaction;

// The tables inside one LMDB transaction.
class LmdbTables final : public internal::TenantTables {
  public:
    LmdbTables(Transaction& txn, const MDB_dbi (&dbis)[4], internal::LmdbStopLists& stop_lists)
        : txn_(txn), dbis_(dbis), stop_lists_(stop_lists) {}

    Result<std::optional<std::string>> find(Table table, std::string_view key) const override {
        return txn_.find(dbi(table), key);
    }
    Status for_each_prefixed(
        Table table, std::string_view prefix,
        const std::function<void(std::string_view, std::string_view)>& visit) const override {
        return internal::for_each_prefixed(txn_, dbi(table), prefix, visit);
    }
    Status put(Table table, std::string_view key, std::string_view value) override {
        return txn_.put(dbi(table), key, value);
    }
    Status erase(Table table, std::string_view key) override { return txn_.erase(dbi(table), key); }
    Status erase_stop_scope(const std::string& scope) override {
        return stop_lists_.erase_scope(txn_, scope);
    }

  private:
    MDB_dbi dbi(Table table) const { return dbis_[static_cast<std::size_t>(table)]; }

    Transaction& txn_;
    const MDB_dbi (&dbis_)[4];
    internal::LmdbStopLists& stop_lists_;
};

class LmdbTenantStore final : public internal::RuledTenantStore {
  public:
    explicit LmdbTenantStore(MDB_env* env) : env_(env) {}
    ~LmdbTenantStore() override { mdb_env_close(env_); }
    LmdbTenantStore(const LmdbTenantStore&) = delete;
    LmdbTenantStore& operator=(const LmdbTenantStore&) = delete;

    Status open_databases();
    Result<std::uint64_t> generation() override;

    StopListStore& stop_lists() override { return *stop_lists_; }
    internal::LmdbStopLists& local_stop_lists() { return *stop_lists_; }
    Status open_stop_lists();
    StatsStore& stats() override { return *stats_; }
    Status open_stats();
    MessageIndex& message_index() override { return *message_index_; }
    Status open_message_index();
    AdminTokenStore& admin_tokens() override { return *admin_tokens_; }
    Status open_admin_tokens();

  protected:
    Status change(const Change& rule) override;
    Status read(const Read& reader) override;

  private:
    Result<Transaction> begin(bool write);
    Result<std::uint64_t> read_generation(const Transaction& txn) const;
    MDB_dbi& dbi(Table table) { return tables_[static_cast<std::size_t>(table)]; }

    MDB_env* env_;
    MDB_dbi meta_ = 0;
    MDB_dbi tables_[4] = {};  // by Table
    std::unique_ptr<internal::LmdbStopLists> stop_lists_;
    std::unique_ptr<internal::LmdbStats> stats_;
    std::unique_ptr<internal::LmdbMessageIndex> message_index_;
    std::unique_ptr<internal::LmdbAdminTokens> admin_tokens_;
};

Result<Transaction> LmdbTenantStore::begin(bool write) {
    return internal::begin_transaction(env_, write);
}

Status LmdbTenantStore::open_databases() {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    const std::pair<const char*, MDB_dbi*> databases[] = {{"meta", &meta_},
                                                          {"projects", &dbi(Table::projects)},
                                                          {"resources", &dbi(Table::resources)},
                                                          {"domains", &dbi(Table::domains)},
                                                          {"dkim_keys", &dbi(Table::dkim_keys)}};
    for (const auto& [name, handle] : databases) {
        if (int code = mdb_dbi_open(txn->get(), name, MDB_CREATE, handle); code != 0) {
            return internal::lmdb_error("cannot open the store", code);
        }
    }
    auto format = txn->find(meta_, "format");
    if (!format) {
        return format.error();
    }
    if (!format.value()) {
        if (Status put = txn->put(meta_, "format", internal::format_version); !put) {
            return put;
        }
        if (Status put = txn->put(meta_, "generation", internal::encode_generation(0)); !put) {
            return put;
        }
    } else if (*format.value() != internal::format_version) {
        return Error{"the store has format " + *format.value() + "; this relay reads format " +
                     std::string(internal::format_version)};
    }
    return txn->commit();
}

Result<std::uint64_t> LmdbTenantStore::read_generation(const Transaction& txn) const {
    auto bytes = txn.find(meta_, "generation");
    if (!bytes) {
        return bytes.error();
    }
    if (!bytes.value()) {
        return Error{"the store has no generation record"};
    }
    return internal::decode_generation(*bytes.value());
}

Status LmdbTenantStore::change(const Change& rule) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    auto generation = read_generation(*txn);
    if (!generation) {
        return generation.error();
    }
    std::uint64_t next = *generation + 1;
    LmdbTables tables(*txn, tables_, *stop_lists_);
    if (Status changed = rule(tables, next); !changed) {
        return changed;  // the transaction aborts: nothing of it was written
    }
    if (Status put = txn->put(meta_, "generation", internal::encode_generation(next)); !put) {
        return put;
    }
    return txn->commit();
}

Status LmdbTenantStore::read(const Read& reader) {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    auto generation = read_generation(*txn);
    if (!generation) {
        return generation.error();
    }
    LmdbTables tables(*txn, tables_, *stop_lists_);
    return reader(tables, *generation);
}

Result<std::uint64_t> LmdbTenantStore::generation() {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    return read_generation(*txn);
}

Status LmdbTenantStore::open_admin_tokens() {
    auto opened = internal::LmdbAdminTokens::open(env_);
    if (!opened) {
        return opened.error();
    }
    admin_tokens_ = std::move(opened.value());
    return {};
}

Status LmdbTenantStore::open_stats() {
    auto opened = internal::LmdbStats::open(env_);
    if (!opened) {
        return opened.error();
    }
    stats_ = std::move(opened.value());
    return {};
}

Status LmdbTenantStore::open_message_index() {
    auto opened = internal::LmdbMessageIndex::open(env_);
    if (!opened) {
        return opened.error();
    }
    message_index_ = std::move(opened.value());
    return {};
}

Status LmdbTenantStore::open_stop_lists() {
    auto opened = internal::LmdbStopLists::open(env_, dbi(Table::resources));
    if (!opened) {
        return opened.error();
    }
    stop_lists_ = std::move(opened.value());
    return {};
}

}  // namespace

internal::LmdbStopLists* internal::lmdb_stop_lists(TenantStore& store) {
    auto* lmdb = dynamic_cast<LmdbTenantStore*>(&store);
    return lmdb == nullptr ? nullptr : &lmdb->local_stop_lists();
}

Result<std::unique_ptr<TenantStore>> open_lmdb_tenant_store(const LmdbOptions& options) {
    std::error_code error;
    std::filesystem::create_directories(options.folder, error);
    if (error) {
        return system_error("cannot create the store folder " + options.folder, error.value());
    }
    ::chmod(options.folder.c_str(), 0700);
    MDB_env* env = nullptr;
    if (int code = mdb_env_create(&env); code != 0) {
        return internal::lmdb_error("cannot open the store", code);
    }
    auto store = std::make_unique<LmdbTenantStore>(env);  // closes env on every path out
    // meta, projects, resources, domains, dkim_keys, stop_lists, stats, sent, sent_by_time,
    // admin_tokens, and room to grow.
    if (int code = mdb_env_set_maxdbs(env, 16); code != 0) {
        return internal::lmdb_error("cannot open the store", code);
    }
    if (int code = mdb_env_set_mapsize(env, options.map_bytes); code != 0) {
        return internal::lmdb_error("cannot open the store", code);
    }
    // MDB_NOTLS: read transactions are tied to the transaction, not the thread, so that the
    // snapshot thread and relayctl's single thread need no thread-local reader slots.
    if (int code = mdb_env_open(env, options.folder.c_str(), MDB_NOTLS, 0600); code != 0) {
        return internal::lmdb_error("cannot open the store in " + options.folder, code);
    }
    int stale_readers = 0;
    mdb_reader_check(env, &stale_readers);  // slots of processes killed while reading
    if (Status opened = store->open_databases(); !opened) {
        return Error{opened.error().message + " (in " + options.folder + ")"};
    }
    if (Status opened = store->open_stop_lists(); !opened) {
        return Error{opened.error().message + " (in " + options.folder + ")"};
    }
    if (Status opened = store->open_stats(); !opened) {
        return Error{opened.error().message + " (in " + options.folder + ")"};
    }
    if (Status opened = store->open_message_index(); !opened) {
        return Error{opened.error().message + " (in " + options.folder + ")"};
    }
    if (Status opened = store->open_admin_tokens(); !opened) {
        return Error{opened.error().message + " (in " + options.folder + ")"};
    }
    return std::unique_ptr<TenantStore>(std::move(store));
}

}  // namespace relay::store
