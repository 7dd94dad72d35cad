// redis_admin_tokens.h -- the admin API's tokens in cluster mode's shared store: one hash,
// relay:{tenants}:admin_tokens, NAME -> the JSON value of the LMDB store, so a token added on any
// node opens the API of every node.
//
// An add is HSETNX (a name in use is refused atomically, whichever node asks), a removal HDEL.
//
// Thread: any, one call at a time or concurrently (one connection behind a mutex); the admin
// thread reads the tokens for each request, so without Redis the API refuses every request.
#pragma once

#include <mutex>

#include "redis_connection.h"
#include "relay/store/admin_token_store.h"

namespace relay::store::internal {

class RedisAdminTokens final : public AdminTokenStore {
  public:
    explicit RedisAdminTokens(RedisConnectionOptions options) : connection_(std::move(options)) {}

    Status add_admin_token(const AdminTokenRecord& token) override;
    Result<bool> remove_admin_token(const std::string& name) override;
    Result<std::vector<AdminTokenRecord>> admin_tokens() override;

  private:
    std::mutex mutex_;
    RedisConnection connection_;
};

}  // namespace relay::store::internal
