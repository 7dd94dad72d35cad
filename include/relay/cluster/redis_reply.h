// redis_reply.h -- a Redis reply copied out of hiredis, so that callers keep no hiredis type.
//
// Thread: any (a value).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace relay::cluster {

struct RedisReply {
    enum class Type : std::uint8_t { nil, integer, text, status, error, array };
    Type type = Type::nil;
    std::int64_t integer = 0;
    std::string text;  // text, status, error
    std::vector<RedisReply> elements;
};

}  // namespace relay::cluster
