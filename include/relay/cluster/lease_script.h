// lease_script.h -- the Lua script that keeps a resource's fleet-wide message count in Redis,
// and the conversion of a LeaseRequest to its arguments and of its reply to a LeaseGrant.
//
// DESCRIPTION
//   Per resource, two keys sharing a hash tag (one Redis Cluster slot):
//     relay:rate:{USERNAME}:slots   a sorted set of `messages` members "0".."N-1", each scored
//                                   with the Redis time (ms) from which it may be used again
//     relay:rate:{USERNAME}:leases  a hash: "n" and "w" (the limit the set was built for),
//                                   "next" (a lease counter), and "s<slot>" = "<lease id> <node>
//                                   <score before the lease> <lease end>" for each leased slot
//   One call, atomically (Redis runs a script alone), on Redis's clock T:
//     1. builds the set when absent or when the limit changed (the slots busy under the old
//        limit stay busy, most recent first, as the single-node limiter does);
//     2. applies the returns: a slot still under the same lease and node gets its old score back
//        when unused, or min(lease end, T - age) + window when used;
//     3. grants up to `want` slots whose score is <= T, at most half of the free ones (at least
//        one), scoring each with lease end + window (lease end = T + lease lifetime), so a slot
//        whose lease is never returned frees itself one window after the lease ends;
//     4. answers {lease id, slots still free, ms until the earliest slot frees, slots under
//        lease (this one's included), slot...}.
//   Both keys expire one window and one lease after the last call: by then every slot is free.
//   docs/cluster.md ("Rate limits across the fleet") has the invariant and why it holds.
//
// Thread: any (pure).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"
#include "relay/cluster/lease_protocol.h"
#include "relay/cluster/redis_reply.h"

namespace relay::cluster {

std::string_view lease_script();

// KEYS then ARGV of one EVALSHA (without the command, sha and key count).
struct ScriptCall {
    std::vector<std::string> keys;
    std::vector<std::string> arguments;
};
ScriptCall lease_script_call(const LeaseRequest& request, std::string_view node_id,
                             std::int64_t lease_ms, std::int64_t now_ms);
Result<LeaseGrant> parse_lease_reply(const RedisReply& reply);

}  // namespace relay::cluster
