// delivery_outcome.cc -- hard or soft: see delivery_outcome.h for the rule and why.
//
// Pure: no I/O. Thread: any.
#include "relay/stats/delivery_outcome.h"

#include "relay/bounce/classify.h"

namespace relay::stats {

store::StatsCounter delivery_counter(DeliveryResult result, std::string_view reply) {
    switch (result) {
        case DeliveryResult::delivered:
            return store::StatsCounter::delivered;
        case DeliveryResult::deferred:
            return store::StatsCounter::deferred;
        case DeliveryResult::failed:
            break;
    }
    // The expiry reason relay writes ("554 4.4.7 message expired ...", or "554 4.7.5 ..." when
    // a TLS policy held the message): an enhanced status of class 4 inside a 5xx failure means
    // the destination only ever deferred.
    bool expired = reply.find(" 4.4.7 ") != std::string_view::npos ||
                   reply.substr(0, 4) == "4.4.7" || (!reply.empty() && reply[0] == '4') ||
                   (reply.size() > 6 && reply[3] == ' ' && reply.substr(4, 2) == "4.");
    return expired ? store::StatsCounter::bounced_soft : store::StatsCounter::bounced_hard;
}

store::StatsCounter delivery_reason_counter(std::string_view reply) {
    bounce::Classification found = bounce::classify(
        bounce::find_enhanced_status(reply), bounce::find_reply_code(reply), reply, "failed");
    auto counter = store::bounce_reason_counter(bounce::reason_name(found.reason));
    return counter ? *counter : store::StatsCounter::bounce_reason_unknown;
}

}  // namespace relay::stats
