// delivery_internal.h -- the per-destination and per-connection state shared by the files of
// the delivery scheduler (delivery.cc, routing.cc, connections.cc, outcomes.cc,
// queue_control.cc).
//
// Thread: one worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/delivery/delivery.h"
#include "relay/delivery/destination_budget.h"

namespace relay::delivery {

// Milliseconds on the reactor's steady clock: for ages that must not jump with the wall clock.
inline std::uint64_t steady_ms(engine::Clock::time_point at) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
}

struct Delivery::Destination {
    std::string key;     // the domain, or "route:N" for a static route
    std::string domain;  // a domain it serves (for MX lookups and logs)
    const config::Route* route = nullptr;
    std::optional<RoutePlan> plan;
    std::uint64_t plan_expires_ms = 0;
    DaneHosts dane;  // by host name, looked up with the plan and replaced with it
    bool resolving = false;
    std::deque<Job> jobs;
    std::vector<OutboundConnection*> connections;
    std::unordered_map<std::string, std::uint64_t> failed_targets;  // name -> when
    std::string last_error;
    // Armed while the process-wide budget refuses a connection this destination wants.
    engine::TimerQueue::TimerId budget_timer = 0;
    // MTA-STS (mta_sts.cc): discovered before each MX lookup; the policy in force, if any.
    bool mta_sts_discovered = false;
    std::optional<sts::CachedPolicy> mta_sts;
};

// RFC 7672 §2.2: what a host's TLSA lookup demands of a connection to it.
struct DaneHost {
    enum class Mode : std::uint8_t {
        none,     // no DANE: insecure or denied TLSA, or insecure addresses; TLS as configured
        encrypt,  // secure TLSA records, none usable: TLS mandatory, not authenticated
        verify,   // usable secure TLSA records: TLS mandatory, the chain must match one
        failed,   // the TLSA lookup failed on a secure path: the host must not be used
    };
    Mode mode = Mode::none;
    std::vector<tls::TlsaRecord> records;    // usable ones, for verify
    std::vector<tls::TlsaRecord> published;  // all of them, for the TLS report
    std::string reason;                      // why none or failed, one line
};

// The limits that apply to a destination now: looked up in the configuration at each use, so
// that a replaced configuration applies to destinations already known.
struct Delivery::Shape {
    std::string budget_key;  // "shaping:" and the rule's domain, or the destination's key
    std::uint32_t connections_max = 0;
    std::uint32_t messages_per_connection_max = 0;
    std::uint32_t messages_per_second = 0;  // 0: no limit
};

struct Delivery::Link {
    std::unique_ptr<OutboundConnection> connection;
    Destination* destination = nullptr;
    std::optional<Job> job;
    engine::TimerQueue::TimerId idle_timer = 0;
    engine::TimerQueue::TimerId rate_timer = 0;  // waiting for the destination's message rate
    DestinationBudget::Ticket ticket;            // this connection, in the process-wide count
    TlsDecision tls;    // the destination's TLS policy when the connection was opened
    bool done = false;  // failed or quit: takes no more jobs
};
}  // namespace relay::delivery
