// redis_connection.h -- a small blocking Redis client for the store's own threads.
//
// One hiredis context, connected on first use (with AUTH when a password is set) and dropped on
// any I/O error or timeout, so the next call connects again: recovery needs no restart. Replies
// are copied into cluster::RedisReply; an error reply from Redis is a reply (Type::error), a
// failure to talk to Redis is an Error.
//
// Thread: whoever holds it; it blocks up to the connect and command timeouts, so never on a
// worker's loop (relayctl, the admin API, the snapshot refresher, the bounce processor and the
// store's change watcher use it).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "relay/cluster/redis_reply.h"

struct redisContext;

namespace relay::store::internal {

using cluster::RedisReply;

// A reply of another shape than the store wrote: the one-line error its callers return.
inline Error unreadable(const std::string& what) {
    return make_error(ErrorCode::internal, Blame::relay, "Redis answered " + what);
}

// An integer reply, or a decimal one in text (HGET); anything else reads as 0.
inline std::uint64_t to_number(const RedisReply& reply) {
    if (reply.type == RedisReply::Type::integer) {
        return static_cast<std::uint64_t>(reply.integer);
    }
    return reply.type == RedisReply::Type::text ? std::strtoull(reply.text.c_str(), nullptr, 10)
                                                : 0;
}

struct RedisConnectionOptions {
    std::string address;  // "HOST:PORT", "[IPV6]:PORT" or a unix socket path
    std::string password;
    std::uint32_t connect_timeout_ms = 1000;
    std::uint32_t command_timeout_ms = 1000;
};

class RedisConnection {
  public:
    explicit RedisConnection(RedisConnectionOptions options) : options_(std::move(options)) {}
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // Sends one command and waits for its reply.
    Result<RedisReply> command(const std::vector<std::string>& argv);
    // Sends the commands in one write and reads their replies in order (MULTI ... EXEC).
    Result<std::vector<RedisReply>> pipeline(const std::vector<std::vector<std::string>>& commands);
    // The next reply pushed by Redis (a subscription's message), waiting at most `timeout_ms`;
    // nullopt when none came.
    Result<std::optional<RedisReply>> next_push(std::uint32_t timeout_ms);
    // Closes the connection; the next call connects again.
    void drop();
    const std::string& address() const { return options_.address; }

  private:
    Status connect();
    Error fail(const std::string& what);

    RedisConnectionOptions options_;
    redisContext* context_ = nullptr;
};

}  // namespace relay::store::internal
