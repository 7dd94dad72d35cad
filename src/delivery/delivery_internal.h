// delivery_internal.h -- the per-destination and per-connection state shared by the files of
// the delivery scheduler (delivery.cc, routing.cc, connections.cc, outcomes.cc,
// queue_control.cc).
//
// Thread: one worker.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/delivery/delivery.h"

namespace relay::delivery {

struct Delivery::Destination {
    std::string key;     // the domain, or "route:N" for a static route
    std::string domain;  // a domain it serves (for MX lookups and logs)
    const config::Route* route = nullptr;
    std::optional<RoutePlan> plan;
    std::uint64_t plan_expires_ms = 0;
    bool resolving = false;
    std::deque<Job> jobs;
    std::vector<OutboundConnection*> connections;
    std::unordered_map<std::string, std::uint64_t> failed_targets;  // name -> when
    std::string last_error;
};

struct Delivery::Link {
    std::unique_ptr<OutboundConnection> connection;
    Destination* destination = nullptr;
    std::optional<Job> job;
    engine::TimerQueue::TimerId idle_timer = 0;
    config::TlsPolicy tls_policy = config::TlsPolicy::opportunistic;
    bool done = false;  // failed or quit: takes no more jobs
};
}  // namespace relay::delivery
