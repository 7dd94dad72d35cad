// idle_state.cc -- drops what the worker keeps per destination once it has been idle for
// [delivery] destination_idle_s, so that a relay sending to millions of distinct domains keeps
// flat memory: the destination (its queue, route plan and failed hosts) and the expired
// memories of hosts whose STARTTLS failed.
#include <algorithm>
#include <chrono>

#include "delivery_internal.h"
#include "relay/base/clock.h"

namespace relay::delivery {
namespace {

// A sweep looks at most this many destinations, so that one turn of the worker stays short; the
// rest wait for the next sweep.
constexpr std::size_t sweep_destinations_max = 10000;

}  // namespace

void Delivery::sweep_idle() {
    const std::uint64_t idle_ms = std::uint64_t{current().delivery.destination_idle_s} * 1000;
    const std::uint64_t now_ms = steady_ms(reactor_.now());
    if (now_ms > idle_ms) {
        for (const std::string& key :
             idle_destinations_.take_idle(now_ms - idle_ms, sweep_destinations_max)) {
            auto found = destinations_.find(key);
            if (found == destinations_.end()) {
                continue;
            }
            const Destination& destination = *found->second;
            // Busy without a recent touch (a long transaction, a slow lookup): look again later.
            if (!destination.jobs.empty() || !destination.connections.empty() ||
                destination.resolving || destination.budget_timer != 0) {
                idle_destinations_.touch(key, now_ms);
                continue;
            }
            destinations_.erase(found);
        }
    }
    const std::uint64_t wall_ms = unix_ms_now();
    std::erase_if(plaintext_until_ms_,
                  [wall_ms](const auto& host) { return host.second <= wall_ms; });
    // A quarter of the idle time: a destination lives at most 1.25 times it once idle.
    auto period = std::chrono::milliseconds(std::max<std::uint64_t>(idle_ms / 4, 250));
    sweep_timer_ = reactor_.timers().add(reactor_.now() + period, [this] {
        sweep_timer_ = 0;
        sweep_idle();
    });
}

}  // namespace relay::delivery
