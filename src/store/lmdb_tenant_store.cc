// lmdb_tenant_store.cc -- the tenant rules (quotas, conflicts, cascades) inside LMDB write
// transactions.
//
// Each change runs in one write transaction: read what the rule needs, check it, write, advance
// the generation, commit. LMDB lets one writer in at a time across processes, so two relayctl
// runs cannot both take the last slot of a quota. A process killed before the commit leaves
// nothing behind (its pages were never reachable); one killed after leaves the whole change.
// Stale reader slots of killed processes are cleared at open (mdb_reader_check).
//
// Thread: any, one call at a time (MDB_NOTLS). Blocking: only for relayctl and the tenant
// snapshot thread, never a worker's loop.
#include "relay/store/lmdb_tenant_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "lmdb_admin_tokens.h"
#include "lmdb_message_index.h"
#include "lmdb_stats.h"
#include "lmdb_stop_lists.h"
#include "lmdb_transaction.h"
#include "relay/config/values.h"
#include "relay/store/tenant_names.h"
#include "tenant_codec.h"

namespace relay::store {
namespace {

using internal::Transaction;

std::string plural(std::uint64_t count, const char* noun) {
    return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// Every record of `dbi` whose key starts with `prefix`, in key order, through `decode(key,
// value)`; a damaged record fails the whole read (after the scan, so the error names the first).
template <class Record, class Decode>
Result<std::vector<Record>> decode_prefixed(const Transaction& txn, MDB_dbi dbi,
                                            const std::string& prefix, Decode decode) {
    std::vector<Record> found;
    Status damage;
    Status read = internal::for_each_prefixed(txn, dbi, prefix,
                                              [&](std::string_view key, std::string_view value) {
                                                  auto record = decode(key, value);
                                                  if (record) {
                                                      found.push_back(std::move(record.value()));
                                                  } else if (damage.ok()) {
                                                      damage = record.error();
                                                  }
                                              });
    if (!read) {
        return read.error();
    }
    if (!damage) {
        return damage.error();
    }
    return found;
}

class LmdbTenantStore final : public TenantStore {
  public:
    explicit LmdbTenantStore(MDB_env* env) : env_(env) {}
    ~LmdbTenantStore() override { mdb_env_close(env_); }
    LmdbTenantStore(const LmdbTenantStore&) = delete;
    LmdbTenantStore& operator=(const LmdbTenantStore&) = delete;

    Status open_databases();

    Result<std::uint64_t> generation() override;
    Result<TenantData> load() override;
    Status add_project(const std::string& name, const QuotaChange& quota) override;
    Status remove_project(const std::string& name) override;
    Status set_quota(const std::string& name, const QuotaChange& quota) override;
    Status set_networks(const std::string& name, const std::vector<std::string>& networks) override;
    Status add_resource(const std::string& username, const std::string& password_hash) override;
    Status remove_resource(const std::string& username) override;
    Status set_password(const std::string& username, const std::string& password_hash) override;
    Status add_domain(const std::string& username, const std::string& domain) override;
    Status remove_domain(const std::string& username, const std::string& domain) override;
    Status set_rate_limit(const std::string& username, std::uint32_t messages,
                          std::uint32_t window_s) override;
    Status set_return_path(const std::string& username, const std::string& address) override;

    // Stop lists.
    Status set_stop_policy(const std::string& username, StopPolicy policy) override;
    StopListStore& stop_lists() override { return *stop_lists_; }
    Status open_stop_lists();

    // Statistics.
    StatsStore& stats() override { return *stats_; }
    Status open_stats();

    // The Message-ID index of sent mail.
    MessageIndex& message_index() override { return *message_index_; }
    Status open_message_index();
    // Admin API tokens.
    AdminTokenStore& admin_tokens() override { return *admin_tokens_; }
    Status open_admin_tokens();

    // DKIM keys.
    Status add_dkim_key(const DkimKeyRecord& key) override;
    Status remove_dkim_key(const std::string& domain, const std::string& selector) override;

  private:
    Result<Transaction> begin(bool write);
    // Runs `change(txn, generation)` in a write transaction, with the generation this write
    // will have, and commits only if it succeeds.
    template <class Change>
    Status write(Change change);
    // Reads the resource `username`, lets `change(record, generation)` edit it and writes it
    // back, in one write transaction (so in one generation).
    template <class Change>
    Status update_resource(const std::string& username, Change change);
    Result<std::uint64_t> read_generation(const Transaction& txn) const;
    Result<ProjectRecord> project(const Transaction& txn, const std::string& name) const;
    Result<ResourceRecord> resource(const Transaction& txn, const Username& username) const;
    Result<std::vector<ResourceRecord>> resources(const Transaction& txn,
                                                  const std::string& prefix) const;
    Status erase_resource(Transaction& txn, const ResourceRecord& resource);
    Result<std::vector<DkimKeyRecord>> dkim_keys(const Transaction& txn,
                                                 const std::string& prefix) const;
    Status erase_dkim_keys(Transaction& txn, const std::string& domain);

    MDB_env* env_;
    MDB_dbi meta_ = 0;
    MDB_dbi projects_ = 0;
    MDB_dbi resources_ = 0;
    MDB_dbi domains_ = 0;
    std::unique_ptr<internal::LmdbStopLists> stop_lists_;
    std::unique_ptr<internal::LmdbStats> stats_;
    std::unique_ptr<internal::LmdbMessageIndex> message_index_;
    std::unique_ptr<internal::LmdbAdminTokens> admin_tokens_;
    MDB_dbi dkim_keys_ = 0;
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
                                                          {"projects", &projects_},
                                                          {"resources", &resources_},
                                                          {"domains", &domains_},
                                                          {"dkim_keys", &dkim_keys_}};
    for (const auto& [name, dbi] : databases) {
        if (int code = mdb_dbi_open(txn->get(), name, MDB_CREATE, dbi); code != 0) {
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

template <class Change>
Status LmdbTenantStore::write(Change change) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    auto generation = read_generation(*txn);
    if (!generation) {
        return generation.error();
    }
    std::uint64_t next = *generation + 1;
    if (Status changed = change(*txn, next); !changed) {
        return changed;  // the transaction aborts: nothing of it was written
    }
    if (Status put = txn->put(meta_, "generation", internal::encode_generation(next)); !put) {
        return put;
    }
    return txn->commit();
}

template <class Change>
Status LmdbTenantStore::update_resource(const std::string& username, Change change) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    return write([&](Transaction& txn, std::uint64_t generation) -> Status {
        auto record = resource(txn, parsed.value());
        if (!record) {
            return record.error();
        }
        change(record.value(), generation);
        return txn.put(resources_, username, internal::encode_resource(record.value()));
    });
}

Result<ProjectRecord> LmdbTenantStore::project(const Transaction& txn,
                                               const std::string& name) const {
    auto value = txn.find(projects_, name);
    if (!value) {
        return value.error();
    }
    if (!value.value()) {
        return make_error(ErrorCode::not_found, Blame::client, "no project " + name);
    }
    return internal::decode_project(name, *value.value());
}

Result<ResourceRecord> LmdbTenantStore::resource(const Transaction& txn,
                                                 const Username& username) const {
    std::string key = username.project + "/" + username.name;
    auto value = txn.find(resources_, key);
    if (!value) {
        return value.error();
    }
    if (!value.value()) {
        return make_error(ErrorCode::not_found, Blame::client, "no resource " + key);
    }
    return internal::decode_resource(key, *value.value());
}

Result<std::vector<ResourceRecord>> LmdbTenantStore::resources(const Transaction& txn,
                                                               const std::string& prefix) const {
    return decode_prefixed<ResourceRecord>(txn, resources_, prefix, internal::decode_resource);
}

Status LmdbTenantStore::erase_resource(Transaction& txn, const ResourceRecord& resource) {
    for (const std::string& domain : resource.domains) {
        if (Status erased = txn.erase(domains_, domain); !erased) {
            return erased;
        }
        if (Status erased = erase_dkim_keys(txn, domain); !erased) {
            return erased;
        }
    }
    if (Status erased = stop_lists_->erase_scope(txn, resource.username()); !erased) {
        return erased;
    }
    return txn.erase(resources_, resource.username());
}

Result<std::uint64_t> LmdbTenantStore::generation() {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    return read_generation(*txn);
}

Result<TenantData> LmdbTenantStore::load() {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    TenantData data;
    auto generation = read_generation(*txn);
    if (!generation) {
        return generation.error();
    }
    data.generation = *generation;
    auto projects = decode_prefixed<ProjectRecord>(*txn, projects_, "", internal::decode_project);
    if (!projects) {
        return projects.error();
    }
    data.projects = std::move(projects.value());
    auto all = resources(*txn, "");
    if (!all) {
        return all.error();
    }
    data.resources = std::move(all.value());
    auto keys = dkim_keys(*txn, "");
    if (!keys) {
        return keys.error();
    }
    data.dkim_keys = std::move(keys.value());
    return data;
}

Status LmdbTenantStore::add_project(const std::string& name, const QuotaChange& quota) {
    auto checked = check_name("project", name);
    if (!checked) {
        return checked.error();
    }
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto existing = txn.find(projects_, name);
        if (!existing) {
            return existing.error();
        }
        if (existing.value()) {
            return make_error(ErrorCode::already_exists, Blame::client,
                              "project " + name + " already exists");
        }
        ProjectRecord record{name,
                             quota.resources_max.value_or(default_resources_max),
                             quota.domains_max.value_or(default_domains_max),
                             {}};
        return txn.put(projects_, name, internal::encode_project(record));
    });
}

Status LmdbTenantStore::remove_project(const std::string& name) {
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto record = project(txn, name);
        if (!record) {
            return record.error();
        }
        auto owned = resources(txn, name + "/");
        if (!owned) {
            return owned.error();
        }
        for (const ResourceRecord& resource : owned.value()) {
            if (Status erased = erase_resource(txn, resource); !erased) {
                return erased;
            }
        }
        return txn.erase(projects_, name);
    });
}

Status LmdbTenantStore::set_quota(const std::string& name, const QuotaChange& quota) {
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto record = project(txn, name);
        if (!record) {
            return record.error();
        }
        auto owned = resources(txn, name + "/");
        if (!owned) {
            return owned.error();
        }
        if (quota.resources_max && owned->size() > *quota.resources_max) {
            return make_error(ErrorCode::failed_precondition, Blame::client,
                              "project " + name + " has " + plural(owned->size(), "resource") +
                                  "; remove some before lowering --max-resources to " +
                                  std::to_string(*quota.resources_max));
        }
        for (const ResourceRecord& resource : owned.value()) {
            if (quota.domains_max && resource.domains.size() > *quota.domains_max) {
                return make_error(ErrorCode::failed_precondition, Blame::client,
                                  "resource " + resource.username() + " has " +
                                      plural(resource.domains.size(), "domain") +
                                      "; remove some before lowering --max-domains to " +
                                      std::to_string(*quota.domains_max));
            }
        }
        record->resources_max = quota.resources_max.value_or(record->resources_max);
        record->domains_max = quota.domains_max.value_or(record->domains_max);
        return txn.put(projects_, name, internal::encode_project(record.value()));
    });
}

Status LmdbTenantStore::set_networks(const std::string& name,
                                     const std::vector<std::string>& networks) {
    std::vector<std::string> canonical;
    for (const std::string& text : networks) {
        auto network = config::Cidr::parse(text);
        if (!network) {
            return Error{"project " + name + " networks: " + network.error().message};
        }
        std::string written = network->to_string();
        if (std::find(canonical.begin(), canonical.end(), written) == canonical.end()) {
            canonical.push_back(std::move(written));
        }
    }
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto record = project(txn, name);
        if (!record) {
            return record.error();
        }
        record->networks = canonical;
        return txn.put(projects_, name, internal::encode_project(record.value()));
    });
}

Status LmdbTenantStore::add_resource(const std::string& username,
                                     const std::string& password_hash) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    return write([&](Transaction& txn, std::uint64_t generation) -> Status {
        auto owner = project(txn, parsed->project);
        if (!owner) {
            Error error = owner.error();
            error.message += " (add it with relayctl project add " + parsed->project + ")";
            return error;
        }
        auto owned = resources(txn, parsed->project + "/");
        if (!owned) {
            return owned.error();
        }
        for (const ResourceRecord& resource : owned.value()) {
            if (resource.name == parsed->name) {
                return make_error(ErrorCode::already_exists, Blame::client,
                                  "resource " + username + " already exists");
            }
        }
        if (owned->size() >= owner->resources_max) {
            return make_error(ErrorCode::failed_precondition, Blame::client,
                              "project " + owner->name + " already has " +
                                  std::to_string(owned->size()) + " of " +
                                  std::to_string(owner->resources_max) + " resources" +
                                  "; raise the quota with relayctl project set-quota " +
                                  owner->name + " --max-resources N");
        }
        ResourceRecord record{parsed->project, parsed->name, password_hash, generation, {}};
        return txn.put(resources_, username, internal::encode_resource(record));
    });
}

Status LmdbTenantStore::remove_resource(const std::string& username) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto record = resource(txn, parsed.value());
        if (!record) {
            return record.error();
        }
        return erase_resource(txn, record.value());
    });
}

Status LmdbTenantStore::set_password(const std::string& username,
                                     const std::string& password_hash) {
    return update_resource(username, [&](ResourceRecord& record, std::uint64_t generation) {
        record.password_hash = password_hash;
        record.password_generation = generation;
    });
}

Status LmdbTenantStore::add_domain(const std::string& username, const std::string& domain) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    auto name = check_domain(domain);
    if (!name) {
        return name.error();
    }
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto record = resource(txn, parsed.value());
        if (!record) {
            return record.error();
        }
        auto owner = txn.find(domains_, name.value());
        if (!owner) {
            return owner.error();
        }
        if (owner.value()) {
            return make_error(
                ErrorCode::already_exists, Blame::client,
                *owner.value() == username
                    ? "domain " + *name + " is already a domain of " + username
                    : "domain " + *name + " already belongs to resource " + *owner.value());
        }
        auto limits = project(txn, parsed->project);
        if (!limits) {
            return limits.error();
        }
        if (record->domains.size() >= limits->domains_max) {
            return make_error(ErrorCode::failed_precondition, Blame::client,
                              "resource " + username + " already has " +
                                  std::to_string(record->domains.size()) + " of " +
                                  std::to_string(limits->domains_max) + " domains" +
                                  "; raise the quota with relayctl project set-quota " +
                                  parsed->project + " --max-domains N");
        }
        auto position =
            std::lower_bound(record->domains.begin(), record->domains.end(), name.value());
        record->domains.insert(position, name.value());
        if (Status put = txn.put(domains_, name.value(), username); !put) {
            return put;
        }
        return txn.put(resources_, username, internal::encode_resource(record.value()));
    });
}

Status LmdbTenantStore::remove_domain(const std::string& username, const std::string& domain) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    auto name = check_domain(domain);
    if (!name) {
        return name.error();
    }
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto record = resource(txn, parsed.value());
        if (!record) {
            return record.error();
        }
        auto position = std::find(record->domains.begin(), record->domains.end(), name.value());
        if (position == record->domains.end()) {
            return make_error(ErrorCode::not_found, Blame::client,
                              "domain " + *name + " is not a domain of " + username);
        }
        record->domains.erase(position);
        if (Status erased = txn.erase(domains_, name.value()); !erased) {
            return erased;
        }
        if (Status erased = erase_dkim_keys(txn, name.value()); !erased) {
            return erased;
        }
        return txn.put(resources_, username, internal::encode_resource(record.value()));
    });
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
    auto opened = internal::LmdbStopLists::open(env_, resources_);
    if (!opened) {
        return opened.error();
    }
    stop_lists_ = std::move(opened.value());
    return {};
}

Status LmdbTenantStore::set_stop_policy(const std::string& username, StopPolicy policy) {
    return update_resource(
        username, [&](ResourceRecord& record, std::uint64_t) { record.stop_policy = policy; });
}

Result<std::vector<DkimKeyRecord>> LmdbTenantStore::dkim_keys(const Transaction& txn,
                                                              const std::string& prefix) const {
    return decode_prefixed<DkimKeyRecord>(txn, dkim_keys_, prefix, internal::decode_dkim_key);
}

Status LmdbTenantStore::erase_dkim_keys(Transaction& txn, const std::string& domain) {
    auto keys = dkim_keys(txn, domain + "/");
    if (!keys) {
        return keys.error();
    }
    for (const DkimKeyRecord& key : keys.value()) {
        std::string name = internal::dkim_key_name(key.domain, key.selector);
        if (Status erased = txn.erase(dkim_keys_, name); !erased) {
            return erased;
        }
    }
    return {};
}

Status LmdbTenantStore::add_dkim_key(const DkimKeyRecord& key) {
    auto domain = check_domain(key.domain);
    if (!domain) {
        return domain.error();
    }
    auto selector = check_dkim_selector(key.selector);
    if (!selector) {
        return selector.error();
    }
    if (key.algorithm != "rsa-sha256" && key.algorithm != "ed25519-sha256") {
        return make_error(
            ErrorCode::invalid_argument, Blame::client,
            "DKIM algorithm \"" + key.algorithm + "\" is not rsa-sha256 or ed25519-sha256");
    }
    if (key.canonicalization != "relaxed" && key.canonicalization != "simple") {
        return make_error(
            ErrorCode::invalid_argument, Blame::client,
            "DKIM canonicalization \"" + key.canonicalization + "\" is not relaxed or simple");
    }
    DkimKeyRecord record = key;
    record.domain = domain.value();
    record.selector = selector.value();
    std::string name = internal::dkim_key_name(record.domain, record.selector);
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto owner = txn.find(domains_, record.domain);
        if (!owner) {
            return owner.error();
        }
        if (!owner.value()) {
            return make_error(ErrorCode::failed_precondition, Blame::client,
                              "domain " + record.domain +
                                  " is not a domain of any resource (add it first with relayctl "
                                  "domain add PROJECT/NAME " +
                                  record.domain + ")");
        }
        auto existing = txn.find(dkim_keys_, name);
        if (!existing) {
            return existing.error();
        }
        if (existing.value()) {
            return make_error(ErrorCode::already_exists, Blame::client,
                              "domain " + record.domain + " already has a DKIM key with selector " +
                                  record.selector + " (remove it first with relayctl dkim remove " +
                                  record.domain + " " + record.selector + ")");
        }
        return txn.put(dkim_keys_, name, internal::encode_dkim_key(record));
    });
}

Status LmdbTenantStore::remove_dkim_key(const std::string& domain, const std::string& selector) {
    auto name = check_domain(domain);
    if (!name) {
        return name.error();
    }
    auto checked = check_dkim_selector(selector);
    if (!checked) {
        return checked.error();
    }
    std::string key = internal::dkim_key_name(name.value(), checked.value());
    return write([&](Transaction& txn, std::uint64_t) -> Status {
        auto existing = txn.find(dkim_keys_, key);
        if (!existing) {
            return existing.error();
        }
        if (!existing.value()) {
            return make_error(ErrorCode::not_found, Blame::client,
                              "domain " + *name + " has no DKIM key with selector " + *checked);
        }
        return txn.erase(dkim_keys_, key);
    });
}

}  // namespace

// Bounded so that a typo cannot make the limit meaningless (or its budget huge in memory: 8
// bytes per message of the limit).
Status LmdbTenantStore::set_rate_limit(const std::string& username, std::uint32_t messages,
                                       std::uint32_t window_s) {
    if (messages < 1 || messages > rate_messages_max) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "messages must be 1 to " + std::to_string(rate_messages_max) + ", not " +
                              std::to_string(messages));
    }
    if (window_s < 1 || window_s > rate_window_s_max) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "window must be 1 to " + std::to_string(rate_window_s_max) +
                              " seconds, not " + std::to_string(window_s));
    }
    return update_resource(username, [&](ResourceRecord& record, std::uint64_t) {
        record.rate_messages = messages;
        record.rate_window_s = window_s;
    });
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

Status LmdbTenantStore::set_return_path(const std::string& username, const std::string& address) {
    std::string checked;
    if (!address.empty()) {
        auto valid = check_return_path(address);
        if (!valid) {
            return valid.error();
        }
        checked = std::move(valid.value());
    }
    return update_resource(
        username, [&](ResourceRecord& record, std::uint64_t) { record.return_path = checked; });
}

}  // namespace relay::store
