// queue_control.cc -- the queue operations relayctl asks for: retry now, delete, bounce.
#include "delivery_internal.h"
#include "relay/base/log.h"
#include "relay/smtp/address.h"

namespace relay::delivery {

// ---------------------------------------------------------------------------------------------
// Queue operations

bool QueueSelector::matches_recipient(const std::string& address) const {
    return domain.empty() || smtp::domain_of(address) == domain;
}

std::vector<spool::QueueId> Delivery::select(const QueueSelector& selector) {
    std::vector<spool::QueueId> ids;
    if (selector.id) {
        if (spool_.find(*selector.id) != nullptr) {
            ids.push_back(*selector.id);
        }
        return ids;
    }
    spool_.for_each([&](const spool::QueuedMessage& message) {
        bool wanted = selector.all && selector.matches_message(message);
        bool narrowed = !selector.domain.empty() || !selector.resource.empty();
        for (const spool::Recipient& recipient : message.recipients) {
            wanted = wanted || (recipient.status == spool::RecipientStatus::pending && narrowed &&
                                selector.matches_message(message) &&
                                selector.matches_recipient(recipient.address));
        }
        if (wanted) {
            ids.push_back(message.id);
        }
    });
    return ids;
}

void Delivery::cancel_retry(spool::QueueId id) {
    if (auto timer = retry_timers_.find(id); timer != retry_timers_.end()) {
        reactor_.timers().cancel(timer->second);
        retry_timers_.erase(timer);
    }
}

std::size_t Delivery::retry_now(const QueueSelector& selector) {
    std::vector<spool::QueueId> ids = select(selector);
    if (!ids.empty()) {
        // Destinations whose hosts failed recently are tried afresh.
        for (auto& [key, destination] : destinations_) {
            destination->failed_targets.clear();
        }
    }
    for (spool::QueueId id : ids) {
        cancel_retry(id);
        spool_.record_retry_now(id);
        dispatch(id);
    }
    return ids.size();
}

std::size_t Delivery::settle(
    const QueueSelector& selector,
    const std::function<void(spool::QueuedMessage&, std::uint32_t)>& settle_recipient) {
    std::vector<spool::QueueId> ids = select(selector);
    for (spool::QueueId id : ids) {
        spool::QueuedMessage* message = spool_.find(id);
        for (std::uint32_t index = 0; index < message->recipients.size(); ++index) {
            const spool::Recipient& recipient = message->recipients[index];
            if (recipient.status == spool::RecipientStatus::pending &&
                selector.matches_recipient(recipient.address)) {
                settle_recipient(*message, index);
            }
        }
        if (message->pending_count() == 0) {
            cancel_retry(id);
            if (!attempts_.contains(id)) {
                complete(id);  // otherwise the attempt in flight completes it
            }
        }
    }
    return ids.size();
}

std::size_t Delivery::remove(const QueueSelector& selector) {
    return settle(selector, [this](spool::QueuedMessage& message, std::uint32_t index) {
        spool_.record_recipient(
            message.id, spool::RecipientDone{
                            index, spool::RecipientStatus::deleted, {}, "deleted by the operator"});
        log::info("{}: to=<{}>, resource={}, deleted by the operator",
                  spool::format_queue_id(message.id), message.recipients[index].address,
                  spool::resource_label(message.envelope));
    });
}

std::size_t Delivery::bounce(const QueueSelector& selector) {
    return settle(selector, [this](spool::QueuedMessage& message, std::uint32_t index) {
        record(message, index,
               RecipientOutcome{RecipientOutcome::Kind::failed,
                                {},
                                "554 5.0.0 returned to the sender by the operator"});
    });
}

}  // namespace relay::delivery
