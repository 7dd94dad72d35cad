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
#include "relay/stats/delivery_latency.h"
#include "relay/stats/recorder.h"
#include "relay/stats/tls_versions.h"

namespace relay {

class StatsOutcomes final : public delivery::OutcomeListener {
  public:
    // `bounces`: the bounce processor, or null; `latency`, `tls_versions`: the worker's delivery
    // latency histogram and TLS version counts, or null.
    StatsOutcomes(stats::WorkerCounter& counter, feedback::Processor* bounces,
                  stats::WorkerLatency* latency, stats::WorkerTlsVersions* tls_versions)
        : counter_(counter), bounces_(bounces), latency_(latency), tls_versions_(tls_versions) {}
    void on_outcome(const spool::QueuedMessage& message, std::size_t recipient,
                    const delivery::RecipientOutcome& outcome) override;

  private:
    stats::WorkerCounter& counter_;
    feedback::Processor* bounces_;  // null: no bounce listener
    stats::WorkerLatency* latency_;
    stats::WorkerTlsVersions* tls_versions_;
};

}  // namespace relay
