// lease_protocol.h -- what a node asks of the fleet's rate count in Redis and what it gets:
// the arguments and the reply of the lease script (lease_script.h), as plain values.
//
// Thread: any (values only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace relay::cluster {

// A unit of an earlier lease given back: unused (its slot is free again as it was before the
// lease) or used `age_ms` before the request was sent.
struct ReturnedUnit {
    std::uint32_t slot = 0;
    std::string lease_id;
    std::int64_t used_at_ms = -1;  // the node's steady clock; -1: unused
};

struct LeaseRequest {
    std::string username;
    std::uint32_t messages = 0;
    std::uint32_t window_s = 0;
    std::uint32_t want = 0;  // units wanted now (0: only returns)
    std::vector<ReturnedUnit> returns;
};

struct LeaseGrant {
    std::string lease_id;
    std::vector<std::uint32_t> slots;  // one unit each; may be fewer than wanted, or none
    std::uint32_t free_after = 0;      // slots still free in Redis after this grant
    std::int64_t retry_after_ms = 0;   // until the earliest busy slot frees (>= 0)
    std::uint32_t leased = 0;          // slots under a lease not yet returned, fleet-wide
};

}  // namespace relay::cluster
