// stats_outcomes.h -- counts each recipient's delivery outcome in the worker's statistics
// table (stats/recorder.h), under the message's resource and sender domain.
//
// Only mail accepted from clients is counted: the DSNs relay writes itself are not the
// resource's mail.
//
// Thread: the worker whose Delivery reports the outcome; never blocks.
#pragma once

#include "relay/delivery/outcome.h"
#include "relay/stats/recorder.h"

namespace relay {

class StatsOutcomes final : public delivery::OutcomeListener {
  public:
    explicit StatsOutcomes(stats::WorkerCounter& counter) : counter_(counter) {}
    void on_outcome(const spool::QueuedMessage& message, std::size_t recipient,
                    const delivery::RecipientOutcome& outcome) override;

  private:
    stats::WorkerCounter& counter_;
};

}  // namespace relay
