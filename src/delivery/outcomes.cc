// outcomes.cc -- recipients' outcomes: recorded in the spool, reported to the listeners,
// retried or expired, and the message finished.
#include <algorithm>
#include <string>
#include <utility>

#include "delivery_internal.h"
#include "relay/base/clock.h"
#include "relay/base/log.h"

namespace relay::delivery {
namespace {

// "120 hours", "90 seconds": the maximum age as the operator likely set it.
std::string age_text(std::uint64_t seconds) {
    if (seconds >= 3600 && seconds % 3600 == 0) {
        return std::to_string(seconds / 3600) + " hours";
    }
    return std::to_string(seconds) + " seconds";
}

// The status of an expiry: 4.4.7 ("delivery time expired"), unless the last deferral was by a
// TLS policy (connections.cc puts its 4.7.x code first): the bounce then names the security
// failure that held the message, and the last error follows without its code.
std::pair<std::string, std::string> expiry_status(const std::string& error) {
    if (error.size() > 6 && error.starts_with("4.7.") && error[4] >= '0' && error[4] <= '9') {
        std::size_t space = error.find(' ');
        if (space != std::string::npos) {
            return {error.substr(0, space), error.substr(space + 1)};
        }
    }
    return {"4.4.7", error};
}

}  // namespace

const char* outcome_kind_name(RecipientOutcome::Kind kind) {
    switch (kind) {
        case RecipientOutcome::Kind::delivered:
            return "sent";
        case RecipientOutcome::Kind::deferred:
            return "deferred";
        case RecipientOutcome::Kind::failed:
            return "bounced";
    }
    return "?";
}
// ---------------------------------------------------------------------------------------------
// Outcomes, retries and bounces

void Delivery::defer_queue(Destination& destination, const std::string& reason) {
    settle_queue(destination, RecipientOutcome{RecipientOutcome::Kind::deferred, {}, reason},
                 reason);
}

void Delivery::fail_queue(Destination& destination, const RouteFailure& failure) {
    settle_queue(destination,
                 RecipientOutcome{RecipientOutcome::Kind::failed, {}, failure.reply_line()}, {});
}

void Delivery::settle_queue(Destination& destination, const RecipientOutcome& outcome,
                            const std::string& job_error) {
    std::deque<Job> jobs;
    jobs.swap(destination.jobs);
    for (Job& job : jobs) {
        if (spool::QueuedMessage* message = spool_.find(job.id)) {
            for (std::uint32_t recipient : job.recipients) {
                record(*message, recipient, outcome);
            }
        }
        job_done(job.id, job_error);
    }
}

void Delivery::record(spool::QueuedMessage& message, std::uint32_t recipient,
                      RecipientOutcome outcome) {
    spool::Recipient& target = message.recipients[recipient];
    if (target.status != spool::RecipientStatus::pending) {
        return;  // deleted or bounced by the operator while the transaction ran
    }
    if (outcome.kind != RecipientOutcome::Kind::deferred) {
        spool::RecipientDone done;
        done.index = recipient;
        done.status = outcome.kind == RecipientOutcome::Kind::delivered
                          ? spool::RecipientStatus::delivered
                          : spool::RecipientStatus::failed;
        done.remote = outcome.remote;
        done.reply = outcome.reply;
        spool_.record_recipient(message.id, done);
    }
    log::info("{}: to=<{}>, relay={}{}, status={}, resource={} ({})",
              spool::format_queue_id(message.id), target.address,
              outcome.remote.empty() ? "none" : outcome.remote,
              outcome.tls.empty() ? "" : ", tls=" + outcome.tls, outcome_kind_name(outcome.kind),
              spool::resource_label(message.envelope), outcome.reply);
    for (OutcomeListener* listener : listeners_) {
        listener->on_outcome(message, recipient, outcome);
    }
}

void Delivery::job_done(spool::QueueId id, const std::string& error) {
    auto found = attempts_.find(id);
    if (found == attempts_.end()) {
        return;
    }
    Attempt& attempt = found->second;
    if (!error.empty()) {
        attempt.last_error = error;
    }
    RELAY_ASSERT(attempt.jobs_outstanding > 0);
    if (--attempt.jobs_outstanding == 0) {
        std::string last_error = attempt.last_error;
        attempts_.erase(found);
        attempt_done(id, last_error);
    }
}

void Delivery::attempt_done(spool::QueueId id, const std::string& error) {
    spool::QueuedMessage* message = spool_.find(id);
    if (message == nullptr) {
        return;
    }
    if (message->pending_count() == 0) {
        complete(id);
        return;
    }
    std::uint32_t attempts = message->attempts + 1;
    std::uint64_t now = unix_ms_now();
    auto next = retry_.next_attempt_unix_ms(attempts, message->envelope.received_unix_ms, now);
    if (!next) {
        auto [status, last_error] = expiry_status(error);
        std::string reason = status + " message expired after " + age_text(retry_.maximum_age_s) +
                             " in the queue; last error: " + last_error;
        for (std::uint32_t index = 0; index < message->recipients.size(); ++index) {
            if (message->recipients[index].status == spool::RecipientStatus::pending) {
                record(*message, index,
                       RecipientOutcome{RecipientOutcome::Kind::failed, {}, "554 " + reason});
            }
        }
        complete(id);
        return;
    }
    spool_.record_deferral(id, spool::Deferral{attempts, *next, error});
    schedule_retry(id, *next);
}

void Delivery::complete(spool::QueueId id) {
    spool::QueuedMessage* message = spool_.find(id);
    if (message == nullptr) {
        return;
    }
    bool failed = std::any_of(message->recipients.begin(), message->recipients.end(),
                              [](const spool::Recipient& recipient) {
                                  return recipient.status == spool::RecipientStatus::failed;
                              });
    // Never bounce a bounce, nor mail from the null sender (RFC 5321 §4.5.5, §6.1).
    if (failed && !message->envelope.reverse_path.empty() &&
        message->envelope.origin == spool::Origin::client) {
        send_dsn(id);
        return;
    }
    spool_.finish(id);
}

}  // namespace relay::delivery
