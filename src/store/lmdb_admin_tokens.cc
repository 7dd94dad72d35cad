// lmdb_admin_tokens.cc -- the admin tokens in LMDB: one write transaction per change, one read
// transaction per listing.
//
// Thread: see lmdb_admin_tokens.h. Blocking: relayctl and the admin thread only.
#include "lmdb_admin_tokens.h"

#include <nlohmann/json.hpp>

namespace relay::store {

Status check_admin_token_name(const std::string& name) {
    if (name.empty() || name.size() > 64) {
        return Error{"a token name has 1 to 64 characters (got \"" + name + "\")"};
    }
    for (char c : name) {
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
        if (!allowed) {
            return Error{"a token name is made of letters, digits, '.', '_' and '-' (got \"" +
                         name + "\")"};
        }
    }
    return {};
}

namespace internal {
namespace {

bool is_sha256_hex(const std::string& text) {
    if (text.size() != 64) {
        return false;
    }
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

}  // namespace

Result<std::unique_ptr<LmdbAdminTokens>> LmdbAdminTokens::open(MDB_env* env) {
    MDB_txn* raw = nullptr;
    if (int code = mdb_txn_begin(env, nullptr, 0, &raw); code != 0) {
        return lmdb_error("cannot open the store", code);
    }
    Transaction txn(raw);
    MDB_dbi tokens = 0;
    if (int code = mdb_dbi_open(txn.get(), "admin_tokens", MDB_CREATE, &tokens); code != 0) {
        return lmdb_error("cannot open the admin tokens", code);
    }
    if (Status committed = txn.commit(); !committed) {
        return committed.error();
    }
    return std::make_unique<LmdbAdminTokens>(env, tokens);
}

Result<Transaction> LmdbAdminTokens::begin(bool write) const {
    return begin_transaction(env_, write);
}

Status check_admin_token(const AdminTokenRecord& token) {
    if (Status name = check_admin_token_name(token.name); !name) {
        return name;
    }
    if (!is_sha256_hex(token.sha256_hex)) {
        return Error{"an admin token's hash is 64 lower-case hex digits"};
    }
    return {};
}

Error admin_token_exists(const std::string& name) {
    return Error{"admin token " + name + " exists already (remove it first)"};
}

std::string encode_admin_token(const AdminTokenRecord& token) {
    return nlohmann::json{{"sha256", token.sha256_hex}, {"created", token.created_s}}.dump();
}

Result<AdminTokenRecord> decode_admin_token(std::string_view name, std::string_view value) {
    nlohmann::json parsed = nlohmann::json::parse(value, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("sha256") ||
        !parsed["sha256"].is_string() ||
        !parsed.value("created", nlohmann::json()).is_number_unsigned()) {
        return Error{"the store holds a damaged admin token " + std::string(name)};
    }
    return AdminTokenRecord{std::string(name), parsed["sha256"].get<std::string>(),
                            parsed["created"].get<std::uint64_t>()};
}

Status LmdbAdminTokens::add_admin_token(const AdminTokenRecord& token) {
    if (Status checked = check_admin_token(token); !checked) {
        return checked;
    }
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    auto existing = txn->find(tokens_, token.name);
    if (!existing) {
        return existing.error();
    }
    if (existing.value()) {
        return admin_token_exists(token.name);
    }
    if (Status put = txn->put(tokens_, token.name, encode_admin_token(token)); !put) {
        return put;
    }
    return txn->commit();
}

Result<bool> LmdbAdminTokens::remove_admin_token(const std::string& name) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    auto existing = txn->find(tokens_, name);
    if (!existing) {
        return existing.error();
    }
    if (!existing.value()) {
        return false;
    }
    if (Status erased = txn->erase(tokens_, name); !erased) {
        return erased.error();
    }
    if (Status committed = txn->commit(); !committed) {
        return committed.error();
    }
    return true;
}

Result<std::vector<AdminTokenRecord>> LmdbAdminTokens::admin_tokens() {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    std::vector<AdminTokenRecord> tokens;
    Status damage;
    Status read = for_each_prefixed(txn.value(), tokens_, "",
                                    [&](std::string_view key, std::string_view value) {
                                        auto token = decode_admin_token(key, value);
                                        if (token) {
                                            tokens.push_back(std::move(token.value()));
                                        } else if (damage.ok()) {
                                            damage = token.error();
                                        }
                                    });
    if (!read) {
        return read.error();
    }
    if (!damage) {
        return damage.error();
    }
    return tokens;
}

}  // namespace internal
}  // namespace relay::store
