// redis_connection.cc -- hiredis's blocking API with timeouts, reconnecting on the next call.
//
// A timeout (SO_RCVTIMEO) or a broken socket leaves hiredis's context unusable mid-reply, so
// every failure frees it. Waiting for a pushed message polls the socket first, so an idle
// subscription is no failure.
#include "redis_connection.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <cstdlib>

#include "relay/cluster/hiredis_reply.h"

namespace relay::store::internal {
namespace {

timeval to_timeval(std::uint32_t ms) {
    return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

void append(redisContext* context, const std::vector<std::string>& argv) {
    std::vector<const char*> pointers;
    std::vector<std::size_t> sizes;
    pointers.reserve(argv.size());
    sizes.reserve(argv.size());
    for (const std::string& argument : argv) {
        pointers.push_back(argument.data());
        sizes.push_back(argument.size());
    }
    redisAppendCommandArgv(context, static_cast<int>(argv.size()), pointers.data(), sizes.data());
}

}  // namespace

RedisConnection::~RedisConnection() {
    drop();
}

void RedisConnection::drop() {
    if (context_ != nullptr) {
        redisFree(context_);
        context_ = nullptr;
    }
}

Error RedisConnection::fail(const std::string& what) {
    std::string why =
        context_ != nullptr && context_->errstr[0] != '\0' ? context_->errstr : "no reply";
    drop();
    return make_error(ErrorCode::unavailable, Blame::relay,
                      "Redis " + options_.address + " unreachable: " + what + ": " + why);
}

Status RedisConnection::connect() {
    if (context_ != nullptr) {
        return {};
    }
    const std::string& address = options_.address;
    timeval timeout = to_timeval(options_.connect_timeout_ms);
    if (!address.empty() && address[0] == '/') {
        context_ = redisConnectUnixWithTimeout(address.c_str(), timeout);
    } else {
        std::size_t colon = address.rfind(':');
        std::string host = address.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        int port = std::atoi(address.c_str() + colon + 1);
        context_ = redisConnectWithTimeout(host.c_str(), port, timeout);
    }
    if (context_ == nullptr || context_->err != 0) {
        return fail("connect");
    }
    if (redisSetTimeout(context_, to_timeval(options_.command_timeout_ms)) != REDIS_OK) {
        return fail("connect");
    }
    if (!options_.password.empty()) {
        auto reply = command({"AUTH", options_.password});
        if (!reply) {
            return reply.error();
        }
        if (reply->type == RedisReply::Type::error) {
            drop();
            return make_error(ErrorCode::permission_denied, Blame::configuration,
                              "Redis " + address + " refused the password: " + reply->text);
        }
    }
    return {};
}

Result<RedisReply> RedisConnection::command(const std::vector<std::string>& argv) {
    auto replies = pipeline({argv});
    if (!replies) {
        return replies.error();
    }
    return std::move(replies.value().front());
}

Result<std::vector<RedisReply>> RedisConnection::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
    if (Status connected = connect(); !connected) {
        return connected.error();
    }
    for (const std::vector<std::string>& argv : commands) {
        append(context_, argv);
    }
    std::vector<RedisReply> replies;
    replies.reserve(commands.size());
    for (std::size_t index = 0; index < commands.size(); ++index) {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
            return fail(commands[index].empty() ? "command" : commands[index].front());
        }
        replies.push_back(cluster::copy_hiredis_reply(static_cast<redisReply*>(raw)));
        freeReplyObject(raw);
    }
    return replies;
}

Result<std::optional<RedisReply>> RedisConnection::next_push(std::uint32_t timeout_ms) {
    if (Status connected = connect(); !connected) {
        return connected.error();
    }
    void* raw = nullptr;
    if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) {
        return fail("read");
    }
    if (raw == nullptr) {
        pollfd ready{context_->fd, POLLIN, 0};
        int polled = ::poll(&ready, 1, static_cast<int>(timeout_ms));
        if (polled == 0) {
            return std::optional<RedisReply>();
        }
        if (polled < 0 || redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
            return fail("read");
        }
    }
    RedisReply reply = cluster::copy_hiredis_reply(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    return std::optional<RedisReply>(std::move(reply));
}

}  // namespace relay::store::internal
