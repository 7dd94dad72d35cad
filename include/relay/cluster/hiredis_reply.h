// hiredis_reply.h -- copies a hiredis reply into a RedisReply, for the two clients that talk to
// Redis through hiredis: the cluster thread's asynchronous link and the store's blocking
// connection. Inline, so that the store, which the cluster part builds on, needs no link to it.
//
// Thread: any.
#pragma once

#include <hiredis/hiredis.h>

#include "relay/cluster/redis_reply.h"

namespace relay::cluster {

inline RedisReply copy_hiredis_reply(const redisReply* reply) {
    RedisReply copy;
    switch (reply->type) {
        case REDIS_REPLY_INTEGER:
            copy.type = RedisReply::Type::integer;
            copy.integer = reply->integer;
            break;
        case REDIS_REPLY_STRING:
            copy.type = RedisReply::Type::text;
            copy.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_STATUS:
            copy.type = RedisReply::Type::status;
            copy.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_ERROR:
            copy.type = RedisReply::Type::error;
            copy.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_ARRAY:
            copy.type = RedisReply::Type::array;
            copy.elements.reserve(reply->elements);
            for (std::size_t index = 0; index < reply->elements; ++index) {
                copy.elements.push_back(copy_hiredis_reply(reply->element[index]));
            }
            break;
        default:  // nil
            break;
    }
    return copy;
}

}  // namespace relay::cluster
