// stats_outcomes.h -- counts each recipient's delivery outcome in the worker's statistics
// table (stats/recorder.h), under the message's resource and sender domain.
//
// Only mail accepted from clients is counted: the DSNs relay writes itself are not the
// resource's mail.
//
// Thread: the worker whose Delivery reports the outcome; never blocks.
#pragma once

#include "relay/delivery/outcome.h"
#include "relay/stats/delivery_latency.h"
#include "relay/stats/recorder.h"

namespace relay {

class StatsOutcomes final : public delivery::OutcomeListener {
  public:
    // `latency`: the worker's delivery latency histogram, or null.
    StatsOutcomes(stats::WorkerCounter& counter, stats::WorkerLatency* latency)
        : counter_(counter), latency_(latency) {}
    void on_outcome(const spool::QueuedMessage& message, std::size_t recipient,
                    const delivery::RecipientOutcome& outcome) override;

  private:
    stats::WorkerCounter& counter_;
    stats::WorkerLatency* latency_;
};

}  // namespace relay
