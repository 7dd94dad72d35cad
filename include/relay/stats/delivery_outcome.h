// delivery_outcome.h -- which statistics counter a recipient's delivery outcome adds to.
//
// Delivered and deferred are what they say (a deferral is counted at each failed attempt, so
// one recipient retried five times counts five deferrals). A failure is a hard bounce when the
// destination refused for good (5xx) or relay found no route (no MX, no address), and a soft
// bounce when relay gave up after the maximum age with only temporary (4xx) answers: the
// address was never refused, so the bounce processor's rule of "N soft bounces in a row count
// as hard" applies to it rather than stop-listing it at once.
//
// Pure: no I/O. Thread: any.
#pragma once

#include <string_view>

#include "relay/store/stats_store.h"

namespace relay::stats {

enum class DeliveryResult { delivered, deferred, failed };

// `reply` is the destination's reply, or relay's own reason for a failure it decided.
store::StatsCounter delivery_counter(DeliveryResult result, std::string_view reply);

// The bounce_reason_* counter of a failed delivery: `reply` classified as the bounce listener
// classifies a report (bounce/classify.h), so that both kinds of bounce count under the same
// reasons.
store::StatsCounter delivery_reason_counter(std::string_view reply);

}  // namespace relay::stats
