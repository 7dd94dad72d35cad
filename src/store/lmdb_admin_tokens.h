// lmdb_admin_tokens.h -- the admin tokens' database in the tenant store's LMDB environment:
// key the token's name, value a small JSON object {"sha256": HEX, "created": UNIX_S}.
//
// Thread: any, one call at a time (MDB_NOTLS, as the tenant store).
#pragma once

#include <lmdb.h>

#include <memory>
#include <string>
#include <string_view>

#include "lmdb_transaction.h"
#include "relay/store/admin_token_store.h"

namespace relay::store::internal {

// The rules and the record, shared with the Redis copy (redis_admin_tokens.h): a token's name
// and hash checked, the error for a name in use, the JSON value.
Status check_admin_token(const AdminTokenRecord& token);
Error admin_token_exists(const std::string& name);
std::string encode_admin_token(const AdminTokenRecord& token);
Result<AdminTokenRecord> decode_admin_token(std::string_view name, std::string_view value);

class LmdbAdminTokens final : public AdminTokenStore {
  public:
    static Result<std::unique_ptr<LmdbAdminTokens>> open(MDB_env* env);
    LmdbAdminTokens(MDB_env* env, MDB_dbi tokens) : env_(env), tokens_(tokens) {}

    Status add_admin_token(const AdminTokenRecord& token) override;
    Result<bool> remove_admin_token(const std::string& name) override;
    Result<std::vector<AdminTokenRecord>> admin_tokens() override;

  private:
    Result<Transaction> begin(bool write) const;

    MDB_env* env_;
    MDB_dbi tokens_;
};

}  // namespace relay::store::internal
