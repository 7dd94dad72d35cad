// lmdb_stop_lists.cc -- stop-list entries as LMDB keys, and the lookups the workers make.
//
// A worker's lookup renews its reader's transaction (LMDB takes the latest committed meta page,
// no lock: the reader slot was claimed when the transaction was first begun), makes up to four
// point reads and resets the transaction, so a long-lived reader never pins old pages.
//
// Thread: see lmdb_stop_lists.h. Never blocks on a lock; a lookup may fault in a mapped page.
#include "lmdb_stop_lists.h"

#include <charconv>

namespace relay::store::internal {
namespace {

constexpr char separator = '\0';

void make_key(std::string& key, std::string_view scope, std::string_view domain,
              std::string_view local) {
    key.clear();
    key.append(scope);
    key.push_back(separator);
    key.append(domain);
    key.push_back(separator);
    key.append(local);
}

std::string encode_value(const StopEntry& entry) {
    return std::string(stop_reason_name(entry.reason)) + " " + std::to_string(entry.added_s) + " " +
           std::to_string(entry.expires_s);
}

bool read_number(std::string_view& text, std::uint64_t& number) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc()) {
        return false;
    }
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return true;
}

// "REASON ADDED_S EXPIRES_S"; false when damaged.
bool decode_value(std::string_view value, StopMatch& match) {
    std::size_t space = value.find(' ');
    if (space == std::string_view::npos) {
        return false;
    }
    auto reason = parse_stop_reason(value.substr(0, space));
    value.remove_prefix(space + 1);
    if (!reason || !read_number(value, match.added_s) || value.empty() || value[0] != ' ') {
        return false;
    }
    value.remove_prefix(1);
    match.reason = *reason;
    return read_number(value, match.expires_s) && value.empty();
}

bool decode_entry(std::string_view key, std::string_view value, StopEntry& entry) {
    std::size_t first = key.find(separator);
    std::size_t second = first == std::string_view::npos ? first : key.find(separator, first + 1);
    StopMatch match;
    if (second == std::string_view::npos || !decode_value(value, match)) {
        return false;
    }
    entry.scope = std::string(key.substr(0, first));
    entry.address.domain = std::string(key.substr(first + 1, second - first - 1));
    entry.address.local = std::string(key.substr(second + 1));
    entry.reason = match.reason;
    entry.added_s = match.added_s;
    entry.expires_s = match.expires_s;
    return true;
}

Error damaged(std::string_view key) {
    std::string printable(key);
    for (char& c : printable) {
        c = c == separator ? ' ' : c;
    }
    return Error{"the store holds a damaged stop-list record \"" + printable + "\""};
}

// The lower-cased domain of `recipient` goes into `domain`; false without an '@'.
bool split_recipient(std::string_view recipient, std::string& domain, std::string_view& local) {
    std::size_t at = recipient.rfind('@');
    if (at == std::string_view::npos) {
        return false;
    }
    local = recipient.substr(0, at);
    domain.clear();
    for (char c : recipient.substr(at + 1)) {
        domain.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    return true;
}

// The first live entry for `recipient` in the order resource address, resource domain, global
// address, global domain. `key` and `domain` are the caller's buffers, reused between lookups.
// `where` (when given) receives the scope and address of the match.
Result<std::optional<StopMatch>> lookup(MDB_txn* txn, MDB_dbi dbi, std::string& key,
                                        std::string& domain, std::string_view username,
                                        std::string_view recipient, std::uint64_t now_s,
                                        StopEntry* where) {
    std::string_view local;
    if (!split_recipient(recipient, domain, local)) {
        return std::optional<StopMatch>();
    }
    const std::string_view scopes[] = {username, std::string_view()};
    const std::string_view locals[] = {local, std::string_view()};
    for (std::string_view scope : scopes) {
        if (scope.empty() && &scope == &scopes[0]) {
            continue;  // no resource: the global list only
        }
        for (std::string_view part : locals) {
            make_key(key, scope, domain, part);
            MDB_val key_val = to_val(key);
            MDB_val value{};
            int code = mdb_get(txn, dbi, &key_val, &value);
            if (code == MDB_NOTFOUND) {
                continue;
            }
            if (code != 0) {
                return lmdb_error("cannot read the stop list", code);
            }
            StopMatch match;
            if (!decode_value(to_view(value), match)) {
                return damaged(key);
            }
            if (match.expires_s != 0 && match.expires_s <= now_s) {
                continue;
            }
            match.global = scope.empty();
            match.whole_domain = part.empty();
            if (where != nullptr) {
                *where = StopEntry{std::string(scope), StopAddress{domain, std::string(part)},
                                   match.reason, match.added_s, match.expires_s};
            }
            return std::optional<StopMatch>(match);
        }
    }
    return std::optional<StopMatch>();
}

class LmdbStopListReader final : public StopListReader {
  public:
    LmdbStopListReader(MDB_env* env, MDB_dbi dbi) : env_(env), dbi_(dbi) {}
    ~LmdbStopListReader() override {
        if (txn_ != nullptr) {
            mdb_txn_abort(txn_);
        }
    }
    LmdbStopListReader(const LmdbStopListReader&) = delete;
    LmdbStopListReader& operator=(const LmdbStopListReader&) = delete;

    Result<std::optional<StopMatch>> find(std::string_view username, std::string_view recipient,
                                          std::uint64_t now_s) override {
        int code =
            txn_ != nullptr ? mdb_txn_renew(txn_) : mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn_);
        if (code != 0) {
            if (txn_ != nullptr) {
                mdb_txn_abort(txn_);  // begin afresh next time
                txn_ = nullptr;
            }
            return lmdb_error("cannot read the stop list", code);
        }
        auto found = lookup(txn_, dbi_, key_, domain_, username, recipient, now_s, nullptr);
        mdb_txn_reset(txn_);
        return found;
    }

  private:
    MDB_env* env_;
    MDB_dbi dbi_;
    MDB_txn* txn_ = nullptr;  // reset between lookups
    std::string key_;
    std::string domain_;
};

}  // namespace

std::string stop_field(const StopAddress& address) {
    std::string field = address.domain;
    field.push_back(separator);
    field.append(address.local);
    return field;
}

std::string stop_value(const StopEntry& entry) {
    return encode_value(entry);
}

bool decode_stop(std::string_view scope, std::string_view field, std::string_view value,
                 StopEntry& entry) {
    std::string key(scope);
    key.push_back(separator);
    key.append(field);
    return decode_entry(key, value, entry);
}

Status LmdbStopLists::apply(std::span<const StopChange> changes, bool replace) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    if (replace) {
        if (int code = mdb_drop(txn->get(), entries_, 0); code != 0) {
            return lmdb_error("cannot write the stop list", code);
        }
    }
    std::string key;
    for (const StopChange& change : changes) {
        if (change.kind == StopChange::Kind::drop_scope) {
            if (Status erased = erase_scope(*txn, change.scope); !erased) {
                return erased;
            }
            continue;
        }
        key = change.scope;
        key.push_back(separator);
        key.append(change.field);
        Status written = change.kind == StopChange::Kind::put
                             ? txn->put(entries_, key, change.value)
                             : txn->erase(entries_, key);
        if (!written) {
            return written;
        }
    }
    return txn->commit();
}

Result<std::unique_ptr<LmdbStopLists>> LmdbStopLists::open(MDB_env* env, MDB_dbi resources) {
    MDB_txn* raw = nullptr;
    if (int code = mdb_txn_begin(env, nullptr, 0, &raw); code != 0) {
        return lmdb_error("cannot open the store", code);
    }
    Transaction txn(raw);
    MDB_dbi entries = 0;
    if (int code = mdb_dbi_open(txn.get(), "stop_lists", MDB_CREATE, &entries); code != 0) {
        return lmdb_error("cannot open the store", code);
    }
    if (Status committed = txn.commit(); !committed) {
        return committed.error();
    }
    return std::make_unique<LmdbStopLists>(env, entries, resources);
}

Result<Transaction> LmdbStopLists::begin(bool write) const {
    return begin_transaction(env_, write);
}

Status LmdbStopLists::put(Transaction& txn, const StopEntry& entry) const {
    std::string key;
    make_key(key, entry.scope, entry.address.domain, entry.address.local);
    return txn.put(entries_, key, encode_value(entry));
}

Status LmdbStopLists::add_stop(const StopEntry& entry) {
    return add_stops(std::span<const StopEntry>(&entry, 1));
}

Status LmdbStopLists::add_stops(std::span<const StopEntry> entries) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    std::string checked_scope;  // entries of one file share a scope: check it once
    for (const StopEntry& entry : entries) {
        if (!entry.scope.empty() && entry.scope != checked_scope) {
            auto owner = txn->find(resources_, entry.scope);
            if (!owner) {
                return owner.error();
            }
            if (!owner.value()) {
                return make_error(ErrorCode::not_found, Blame::client,
                                  "no resource " + entry.scope);
            }
            checked_scope = entry.scope;
        }
        if (Status written = put(*txn, entry); !written) {
            return written;
        }
    }
    return txn->commit();
}

Result<bool> LmdbStopLists::remove_stop(const std::string& scope, const StopAddress& address) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    std::string key;
    make_key(key, scope, address.domain, address.local);
    auto existing = txn->find(entries_, key);
    if (!existing) {
        return existing.error();
    }
    if (!existing.value()) {
        return false;
    }
    if (Status erased = txn->erase(entries_, key); !erased) {
        return erased.error();
    }
    if (Status committed = txn->commit(); !committed) {
        return committed.error();
    }
    return true;
}

Status LmdbStopLists::for_each_stop(const std::string& scope,
                                    const std::function<void(const StopEntry&)>& visit) {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    std::string prefix = scope;
    prefix.push_back(separator);
    Status damage;
    StopEntry entry;
    Status read = for_each_prefixed(*txn, entries_, prefix,
                                    [&](std::string_view key, std::string_view value) {
                                        if (decode_entry(key, value, entry)) {
                                            visit(entry);
                                        } else if (damage.ok()) {
                                            damage = damaged(key);
                                        }
                                    });
    if (!read) {
        return read;
    }
    return damage;
}

Result<std::optional<StopEntry>> LmdbStopLists::find_stop(const std::string& username,
                                                          std::string_view recipient,
                                                          std::uint64_t now_s) {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    std::string key;
    std::string domain;
    StopEntry where;
    auto found = lookup(txn->get(), entries_, key, domain, username, recipient, now_s, &where);
    if (!found) {
        return found.error();
    }
    if (!found.value()) {
        return std::optional<StopEntry>();
    }
    return std::optional<StopEntry>(std::move(where));
}

Result<std::unique_ptr<StopListReader>> LmdbStopLists::reader() {
    return std::unique_ptr<StopListReader>(std::make_unique<LmdbStopListReader>(env_, entries_));
}

Status LmdbStopLists::erase_scope(Transaction& txn, const std::string& scope) const {
    std::string prefix = scope;
    prefix.push_back(separator);
    MDB_cursor* cursor = nullptr;
    if (int code = mdb_cursor_open(txn.get(), entries_, &cursor); code != 0) {
        return lmdb_error("cannot write the store", code);
    }
    MDB_val key = to_val(prefix);
    MDB_val value{};
    int code = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (code == 0 && to_view(key).substr(0, prefix.size()) == prefix) {
        code = mdb_cursor_del(cursor, 0);
        if (code == 0) {  // seek again rather than rely on where a delete leaves the cursor
            key = to_val(prefix);
            code = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
        }
    }
    mdb_cursor_close(cursor);
    if (code != 0 && code != MDB_NOTFOUND) {
        return lmdb_error("cannot write the store", code);
    }
    return {};
}

}  // namespace relay::store::internal
