// redis_admin_tokens.cc -- admin tokens as fields of one Redis hash.
#include "redis_admin_tokens.h"

#include <algorithm>

#include "lmdb_admin_tokens.h"

namespace relay::store::internal {
namespace {

constexpr const char* tokens_key = "relay:{tenants}:admin_tokens";

Error refused(const RedisReply& reply) {
    return make_error(ErrorCode::internal, Blame::relay, "Redis refused: " + reply.text);
}

}  // namespace

Status RedisAdminTokens::add_admin_token(const AdminTokenRecord& token) {
    if (Status checked = check_admin_token(token); !checked) {
        return checked;
    }
    std::lock_guard lock(mutex_);
    auto reply = connection_.command({"HSETNX", tokens_key, token.name, encode_admin_token(token)});
    if (!reply) {
        return reply.error();
    }
    if (reply->type != RedisReply::Type::integer) {
        return refused(reply.value());
    }
    if (reply->integer == 0) {
        return admin_token_exists(token.name);
    }
    return {};
}

Result<bool> RedisAdminTokens::remove_admin_token(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto reply = connection_.command({"HDEL", tokens_key, name});
    if (!reply) {
        return reply.error();
    }
    if (reply->type != RedisReply::Type::integer) {
        return refused(reply.value());
    }
    return reply->integer == 1;
}

Result<std::vector<AdminTokenRecord>> RedisAdminTokens::admin_tokens() {
    Result<RedisReply> reply = [&] {
        std::lock_guard lock(mutex_);
        return connection_.command({"HGETALL", tokens_key});
    }();
    if (!reply) {
        return reply.error();
    }
    std::vector<AdminTokenRecord> tokens;
    for (std::size_t at = 0; at + 1 < reply->elements.size(); at += 2) {
        auto token = decode_admin_token(reply->elements[at].text, reply->elements[at + 1].text);
        if (!token) {
            return token.error();
        }
        tokens.push_back(std::move(token.value()));
    }
    std::sort(tokens.begin(), tokens.end(),
              [](const AdminTokenRecord& a, const AdminTokenRecord& b) { return a.name < b.name; });
    return tokens;
}

}  // namespace relay::store::internal
