// stats_outcomes.h -- counts each recipient's delivery outcome in the worker's statistics
// table (stats/recorder.h), under the message's resource and sender domain.
//
// Only mail accepted from clients is counted: the DSNs relay writes itself are not the
// resource's mail.
//
// A delivery is also told to the bounce processor, when there is one: it may end the
// recipient's run of soft bounces (bounce/soft_bounce_runs.h).
//
// Thread: the worker whose Delivery reports the outcome; never blocks (the processor's queue
// is held only for a push).
#pragma once

#include "relay/delivery/outcome.h"
#include "relay/feedback/processor.h"
#include "relay/stats/recorder.h"

namespace relay {

class StatsOutcomes final : public delivery::OutcomeListener {
  public:
    StatsOutcomes(stats::WorkerCounter& counter, feedback::Processor* bounces)
        : counter_(counter), bounces_(bounces) {}
    void on_outcome(const spool::QueuedMessage& message, std::size_t recipient,
                    const delivery::RecipientOutcome& outcome) override;

  private:
    stats::WorkerCounter& counter_;
    feedback::Processor* bounces_;  // null: no bounce listener
};

}  // namespace relay
