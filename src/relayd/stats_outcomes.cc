// stats_outcomes.cc -- delivery outcomes into the worker's statistics table.
#include "stats_outcomes.h"

#include "relay/base/clock.h"
#include "relay/stats/delivery_outcome.h"

namespace relay {
namespace {

stats::DeliveryResult result_of(delivery::RecipientOutcome::Kind kind) {
    switch (kind) {
        case delivery::RecipientOutcome::Kind::delivered:
            return stats::DeliveryResult::delivered;
        case delivery::RecipientOutcome::Kind::deferred:
            return stats::DeliveryResult::deferred;
        case delivery::RecipientOutcome::Kind::failed:
            break;
    }
    return stats::DeliveryResult::failed;
}

}  // namespace

void StatsOutcomes::on_outcome(const spool::QueuedMessage& message, std::size_t recipient,
                               const delivery::RecipientOutcome& outcome) {
    if (message.envelope.origin != spool::Origin::client) {
        return;
    }
    if (bounces_ != nullptr && outcome.kind == delivery::RecipientOutcome::Kind::delivered &&
        recipient < message.recipients.size()) {
        bounces_->delivered(message.envelope.resource, message.recipients[recipient].address,
                            message.id);
    }
    std::string_view reverse_path = message.envelope.reverse_path;
    std::size_t at = reverse_path.rfind('@');
    std::string_view domain =
        at == std::string_view::npos ? std::string_view() : reverse_path.substr(at + 1);
    std::uint64_t now_ms = unix_ms_now();
    counter_.count(message.envelope.resource, domain,
                   stats::delivery_counter(result_of(outcome.kind), outcome.reply), now_ms / 1000);
    if (outcome.kind == delivery::RecipientOutcome::Kind::failed) {
        counter_.count(message.envelope.resource, domain,
                       stats::delivery_reason_counter(outcome.reply), now_ms / 1000);
    }
    if (outcome.kind != delivery::RecipientOutcome::Kind::delivered) {
        return;
    }
    if (latency_ != nullptr) {
        std::uint64_t received_ms = message.envelope.received_unix_ms;
        latency_->record(now_ms > received_ms ? now_ms - received_ms : 0);
    }
    if (tls_versions_ != nullptr) {
        tls_versions_->count_outbound(outcome.tls_version);
    }
}

}  // namespace relay
