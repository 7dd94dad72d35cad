// connections.cc -- a destination's connections: how many are opened, which host each goes
// to, and the jobs each one carries.
#include <algorithm>
#include <chrono>

#include "delivery_internal.h"
#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/delivery/dsn.h"
#include "relay/delivery/return_path.h"

namespace relay::delivery {
namespace {

constexpr auto idle_connection_keep = std::chrono::seconds(2);
constexpr auto budget_recheck = std::chrono::milliseconds(100);
constexpr std::uint64_t target_failure_memory_ms = 60 * 1000;
// RFC 3463 codes of a deferral by TLS policy: the host offered no STARTTLS (X.7.4, "security
// features not supported"), or TLS failed or the policy refused the host (X.7.5,
// "cryptographic failure"), as Postfix words its TLS deferrals.
constexpr std::string_view tls_missing_status = "4.7.4";
constexpr std::string_view tls_policy_status = "4.7.5";

// The Received: trace field (RFC 5321 §4.4) prepended at send time. The comments after the
// client name say which TLS it used and which resource logged in (its username, never the
// password), as Postfix's "using ... with cipher" and "Authenticated sender" do. Under a TLS
// policy stricter than opportunistic, one more says which and what the outbound connection had.
std::string received_header(const spool::QueuedMessage& message, const std::string& hostname,
                            std::span<const std::uint32_t> recipients,
                            std::string_view outbound_tls) {
    const spool::Envelope& envelope = message.envelope;
    std::string field = "Received: ";
    if (envelope.origin == spool::Origin::client) {
        field += "from " +
                 (envelope.client_helo.empty() ? std::string("unknown") : envelope.client_helo);
        field += " (" + envelope.client_ip + ")\r\n\t";
        if (!envelope.tls_version.empty()) {
            field += "(using " + envelope.tls_version + " with cipher " + envelope.tls_cipher +
                     ")\r\n\t";
        }
        if (!envelope.resource.empty()) {
            field += "(authenticated as " + envelope.resource + ")\r\n\t";
        }
    }
    field += "by " + hostname + " (relay) with " +
             (envelope.protocol.empty() ? std::string("ESMTP") : envelope.protocol) + " id " +
             spool::format_queue_id(message.id);
    if (!outbound_tls.empty()) {
        field += "\r\n\t(" + std::string(outbound_tls) + ")";
    }
    if (recipients.size() == 1) {
        field += "\r\n\tfor <" + message.recipients[recipients.front()].address + ">";
    }
    field += "; " + rfc5322_date(envelope.received_unix_ms) + "\r\n";
    return field;
}

// RFC 8460 §4.3's words for what certificate verification said (tls/errors.cc's texts).
sts::ResultType certificate_failure(std::string_view verify_failure) {
    if (verify_failure.find("mismatch") != std::string_view::npos) {
        return sts::ResultType::certificate_host_mismatch;
    }
    if (verify_failure.find("expired") != std::string_view::npos ||
        verify_failure.find("not yet valid") != std::string_view::npos) {
        return sts::ResultType::certificate_expired;
    }
    if (verify_failure.find("issuer") != std::string_view::npos ||
        verify_failure.find("self-signed") != std::string_view::npos ||
        verify_failure.find("signature") != std::string_view::npos) {
        return sts::ResultType::certificate_not_trusted;
    }
    return sts::ResultType::validation_failure;
}

// "mta-sts-enforce/verified": the policy that applied, and what the connection had.
std::string tls_summary(const TlsDecision& decision, const OutboundConnection& connection) {
    std::string state = !connection.tls_active()    ? "plaintext"
                        : connection.tls_verified() ? "verified"
                                                    : "unverified";
    return std::string(applied_tls_name(decision.applied)) + "/" + state;
}

// "outbound TLS policy mta-sts-enforce, certificate verified"; empty under none and
// opportunistic, where the receiving side's own trace field says what TLS it saw.
std::string outbound_tls_comment(const TlsDecision& decision,
                                 const OutboundConnection& connection) {
    if (decision.applied == AppliedTls::none || decision.applied == AppliedTls::opportunistic) {
        return {};
    }
    std::string state = !connection.tls_active()    ? "no TLS"
                        : connection.tls_verified() ? "certificate verified"
                                                    : "certificate not verified";
    return "outbound TLS policy " + std::string(applied_tls_name(decision.applied)) + ", " + state;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Routing

void Delivery::kick(Destination& destination) {
    if (stopping_ || destination.jobs.empty()) {
        return;
    }
    if (destination.plan && !destination.plan->ok()) {
        RouteFailure failure = *destination.plan->failure;
        destination.plan.reset();  // the next attempt looks the route up again
        if (failure.permanent) {
            fail_queue(destination, failure);
        } else {
            defer_queue(destination, failure.reason);
        }
        return;
    }
    if (!destination.plan || unix_ms_now() >= destination.plan_expires_ms) {
        resolve(destination);
        return;
    }
    idle_destinations_.touch(destination.key, steady_ms(reactor_.now()));
    std::size_t starting = 0;
    for (OutboundConnection* connection : destination.connections) {
        Link& link = *links_.at(connection);
        if (link.done) {
            continue;
        }
        // A connection still starting, or held back for the destination's message rate, will
        // take a job soon.
        bool will_take = !connection->ready() || link.rate_timer != 0;
        if (will_take) {
            ++starting;
        } else if (!link.job) {
            give_job(link, destination);
            if (destination.jobs.empty()) {
                return;
            }
        }
    }
    // The connections of every worker count against the destination's limit.
    Shape shape = shape_of(destination);
    while (starting < destination.jobs.size()) {
        std::optional<DestinationBudget::Ticket> ticket =
            budget_.try_connect(shape.budget_key, shape.connections_max);
        if (!ticket) {
            wait_for_budget(destination);
            return;
        }
        if (!open_connection(destination, std::move(*ticket))) {
            return;
        }
        ++starting;
    }
}

// Another worker may free a connection of this destination at any time, and workers do not
// tell each other: look again a little later.
void Delivery::wait_for_budget(Destination& destination) {
    if (destination.budget_timer != 0) {
        return;
    }
    destination.budget_timer =
        reactor_.timers().add(reactor_.now() + budget_recheck, [this, &destination] {
            destination.budget_timer = 0;
            kick(destination);
        });
}

bool Delivery::open_connection(Destination& destination, DestinationBudget::Ticket ticket) {
    std::uint64_t now = unix_ms_now();
    // MTA-STS enforce: an MX host the policy does not name is never used (RFC 8461 §4.1), unless
    // DANE applies to it, which takes precedence.
    if (std::none_of(destination.plan->targets.begin(), destination.plan->targets.end(),
                     [this, &destination](const DeliveryTarget& target) {
                         return tls_decision(destination, &target).host_allowed(target.host);
                     })) {
        count_policy_failure(destination, sts::ResultType::validation_failure);
        defer_queue(destination, std::string(tls_policy_status) + " MTA-STS policy of " +
                                     destination.domain + " (enforce) names none of its MX hosts");
        return false;
    }
    const DeliveryTarget* chosen = nullptr;
    TlsDecision decision;
    for (const DeliveryTarget& target : destination.plan->targets) {
        std::string name = target.host + "|" + target.address.to_string();
        auto failed = destination.failed_targets.find(name);
        if (failed != destination.failed_targets.end() &&
            now - failed->second <= target_failure_memory_ms) {
            continue;
        }
        // The policy for this host (tls_policy.h): DANE first, then MTA-STS and the
        // configured tls. A refused host (a failed TLSA lookup, no records where DANE or no
        // policy where MTA-STS is demanded) is not tried.
        decision = tls_decision(destination, &target);
        if (!decision.host_allowed(target.host)) {
            continue;
        }
        if (!decision.refusal.empty()) {
            if (decision.refusal_failure) {
                count_policy_failure(destination, *decision.refusal_failure, decision.policy_type(),
                                     target.host);
            }
            destination.failed_targets[name] = now;
            destination.last_error = std::string(tls_policy_status) + " " + decision.refusal;
            log::info("{}", decision.refusal);
            continue;
        }
        chosen = &target;
        break;
    }
    if (chosen == nullptr) {
        // Every host failed recently. Jobs wait for a connection that works; without any,
        // they are deferred with the last error and the hosts are tried afresh next time.
        bool working = false;
        for (OutboundConnection* connection : destination.connections) {
            working = working || !links_.at(connection)->done;
        }
        destination.failed_targets.clear();
        if (!working) {
            defer_queue(destination, destination.last_error.empty()
                                         ? "no host of " + destination.domain + " is reachable"
                                         : destination.last_error);
        }
        return false;
    }
    OutboundSettings settings;
    settings.client.helo_name = config_.server.hostname;
    settings.client.require_tls = decision.verified_tls_required();
    settings.client.try_starttls = decision.try_starttls();
    settings.timeouts = &config_.delivery;
    if (decision.applied == AppliedTls::dane) {
        apply_dane(destination, *chosen, settings);
    } else if (decision.verified_tls_required()) {
        settings.tls = tls_required_ ? &*tls_required_ : nullptr;
    } else if (decision.try_starttls()) {
        auto plaintext = plaintext_until_ms_.find(chosen->host);
        bool remembered = plaintext != plaintext_until_ms_.end() && plaintext->second > now;
        settings.tls = remembered ? nullptr : &*tls_opportunistic_;
    }
    if (destination.route != nullptr) {
        settings.client.auth_username = destination.route->auth_username;
        settings.client.auth_password = destination.route->auth_password;
    }
    auto link = std::make_unique<Link>();
    link->destination = &destination;
    link->tls = std::move(decision);
    link->ticket = std::move(ticket);
    link->connection =
        std::make_unique<OutboundConnection>(reactor_, *this, *chosen, std::move(settings));
    OutboundConnection* connection = link->connection.get();
    destination.connections.push_back(connection);
    links_.emplace(connection, std::move(link));
    connection->connect();
    return true;
}

// ---------------------------------------------------------------------------------------------
// Connections

void Delivery::on_ready(OutboundConnection& connection) {
    Link& link = *links_.at(&connection);
    if (stopping_) {
        link.done = true;
        connection.quit();
        return;
    }
    link.destination->failed_targets.erase(connection.target().host + "|" +
                                           connection.target().address.to_string());
    if (link.tls.reported()) {
        // Only MTA-STS testing gets here without verified TLS: enforce fails the connection
        // first. Under DANE, TLS is up; unverified means the host's records were all unusable.
        std::optional<sts::ResultType> failure;
        if (link.tls.applied == AppliedTls::dane) {
            if (!connection.tls_verified()) {
                failure = sts::ResultType::tlsa_invalid;
            }
        } else if (!connection.tls_active()) {
            failure = sts::ResultType::starttls_not_supported;
        } else if (!connection.tls_verified()) {
            failure = certificate_failure(connection.tls_verify_failure());
        } else if (link.tls.sts &&
                   !sts::policy_allows_host(*link.tls.sts, connection.target().host)) {
            failure = sts::ResultType::validation_failure;
        }
        count_tls(link, connection, failure);
    }
    give_job(link, *link.destination);
}

void Delivery::give_job(Link& link, Destination& destination) {
    reactor_.timers().cancel(link.idle_timer);
    link.idle_timer = 0;
    OutboundConnection* connection = link.connection.get();
    if (stopping_ || link.done) {
        return;
    }
    if (link.rate_timer != 0) {
        return;  // the rate timer gives the next job
    }
    // A connection opened under another TLS policy (a new MTA-STS policy came meanwhile) takes
    // no more jobs: the next one is opened under the policy in force.
    TlsDecision decision = tls_decision(destination, &connection->target());
    if (link.tls.applied != decision.applied || link.tls.sts != decision.sts) {
        link.done = true;
        connection->quit();
        reactor_.defer([this, &destination] { kick(destination); });
        return;
    }
    Shape shape = shape_of(destination);
    if (connection->transactions() >= shape.messages_per_connection_max) {
        link.done = true;
        connection->quit();
        reactor_.defer([this, &destination] { kick(destination); });
        return;
    }
    if (destination.jobs.empty()) {
        link.idle_timer =
            reactor_.timers().add(reactor_.now() + idle_connection_keep, [this, connection] {
                auto found = links_.find(connection);
                if (found == links_.end()) {
                    return;
                }
                found->second->idle_timer = 0;
                found->second->done = true;
                connection->quit();
            });
        return;
    }
    auto wait = budget_.take_message(
        shape.budget_key, shape.messages_per_second,
        std::chrono::duration_cast<std::chrono::microseconds>(reactor_.now().time_since_epoch()));
    if (wait.count() > 0) {
        link.rate_timer = reactor_.timers().add(reactor_.now() + wait, [this, connection] {
            auto found = links_.find(connection);
            if (found == links_.end()) {
                return;
            }
            Link& waiting = *found->second;
            waiting.rate_timer = 0;
            give_job(waiting, *waiting.destination);
        });
        return;
    }
    link.job = std::move(destination.jobs.front());
    destination.jobs.pop_front();
    send_job(link);
}

// The message goes out streamed from the spool (a damaged copy is found while it is read: the
// session then fails the transaction and its recipients get 554 5.3.0).
void Delivery::send_job(Link& link) {
    spool::QueuedMessage* message = spool_.find(link.job->id);
    auto reader = spool_.open_body(link.job->id, config_.delivery.body_piece_bytes);
    if (message == nullptr || !reader) {  // deleted meanwhile
        link.job.reset();
        give_job(link, *link.destination);
        return;
    }
    smtp::OutboundMessage outbound;
    std::span<const std::uint32_t> recipients = link.job->in_transaction();
    outbound.reverse_path = envelope_sender(config_.return_path, *message, recipients);
    for (std::uint32_t recipient : recipients) {
        outbound.recipients.push_back(message->recipients[recipient].address);
    }
    outbound.smtputf8 = message->envelope.smtputf8;
    outbound.eight_bit = message->envelope.eight_bit;
    outbound.prefix = received_header(*message, config_.server.hostname, recipients,
                                      outbound_tls_comment(link.tls, *link.connection));
    for (const std::string& signature : message->envelope.dkim_signatures) {
        outbound.prefix += signature;  // made at acceptance (ingress/dkim_signer.h)
    }
    if (!message->envelope.message_id.empty()) {  // the message came without one; signed
        outbound.prefix += "Message-ID: " + message->envelope.message_id + "\r\n";
    }
    outbound.body_bytes = message->envelope.body_bytes;
    outbound.body_ends_with_crlf = message->envelope.ends_with_crlf;
    link.connection->send(outbound, std::make_unique<SpoolBodySource>(std::move(reader)));
}

// Moves a job with a transaction per recipient to its next recipient still pending (an operator
// may have deleted or bounced some meanwhile); false when none is left.
bool Delivery::next_pending(Job& job) {
    const spool::QueuedMessage* message = spool_.find(job.id);
    while (message != nullptr && ++job.next < job.recipients.size()) {
        if (message->recipients[job.recipients[job.next]].status ==
            spool::RecipientStatus::pending) {
            return true;
        }
    }
    return false;
}

void Delivery::on_result(OutboundConnection& connection, smtp::TransactionResult result) {
    Link& link = *links_.at(&connection);
    RELAY_ASSERT(link.job.has_value());
    std::string error;
    std::span<const std::uint32_t> recipients = link.job->in_transaction();
    if (spool::QueuedMessage* message = spool_.find(link.job->id)) {
        bool complete = result.recipient_replies.size() == recipients.size();
        for (std::size_t index = 0; index < recipients.size(); ++index) {
            smtp::Reply reply = complete ? result.recipient_replies[index]
                                         : smtp::Reply{451, "4.3.0", "internal: reply missing"};
            RecipientOutcome outcome;
            outcome.kind = reply.positive()    ? RecipientOutcome::Kind::delivered
                           : reply.permanent() ? RecipientOutcome::Kind::failed
                                               : RecipientOutcome::Kind::deferred;
            bool relay_failed =
                complete && index < result.relay_failed.size() && result.relay_failed[index];
            outcome.remote = result.local || relay_failed ? std::string() : connection.name();
            if (!outcome.remote.empty()) {
                outcome.tls = tls_summary(link.tls, connection);
            }
            outcome.reply = reply.summary();
            if (!outcome.remote.empty()) {
                outcome.tls_version = connection.tls_version();
            }
            if (outcome.kind == RecipientOutcome::Kind::deferred) {
                error = outcome.remote.empty() ? outcome.reply
                                               : outcome.remote + " said: " + outcome.reply;
            }
            record(*message, recipients[index], std::move(outcome));
        }
    }
    if (!error.empty()) {
        link.job->last_error = error;
    }
    if (link.job->transaction_per_recipient && !stopping_ && next_pending(*link.job)) {
        send_job(link);  // the next recipient's transaction, on this connection
        return;
    }
    Job job = std::move(*link.job);
    link.job.reset();
    job_done(job.id, job.last_error);
    if (stopping_) {
        link.done = true;
        connection.quit();
        return;
    }
    give_job(link, *link.destination);
}

void Delivery::on_failed(OutboundConnection& connection, const std::string& reason) {
    Link& link = *links_.at(&connection);
    link.done = true;
    reactor_.timers().cancel(link.idle_timer);
    link.idle_timer = 0;
    reactor_.timers().cancel(link.rate_timer);
    link.rate_timer = 0;
    Destination& destination = *link.destination;
    if (reason.empty()) {
        return;  // an orderly QUIT
    }
    std::string error = reason;
    if (link.tls.reported() && !connection.tls_active() &&
        (connection.tls_failed() || connection.starttls_unavailable() ||
         connection.dane_mismatch())) {
        count_tls(link, connection,
                  connection.starttls_unavailable() ? sts::ResultType::starttls_not_supported
                  : connection.dane_mismatch()
                      ? sts::ResultType::validation_failure
                      : certificate_failure(connection.tls_verify_failure()));
        if (link.tls.applied == AppliedTls::mta_sts_enforce) {
            // Never plaintext: the host failed the policy and the message waits (RFC 8461 §5).
            error = "MTA-STS policy of " + destination.domain + " (enforce) not met: " + reason;
        }
    }
    if (link.tls.verified_tls_required() &&
        (connection.tls_failed() || connection.starttls_unavailable() ||
         connection.dane_mismatch())) {
        // The status a bounce names if the message expires waiting (outcomes.cc).
        error = std::string(connection.starttls_unavailable() ? tls_missing_status
                                                              : tls_policy_status) +
                " " + error;
    }
    destination.last_error = error;
    bool opportunistic = link.tls.applied == AppliedTls::opportunistic ||
                         link.tls.applied == AppliedTls::mta_sts_testing;
    if (connection.tls_failed() && !connection.tls_active() && opportunistic) {
        // RFC 7435: under opportunistic TLS, a host whose STARTTLS fails gets plaintext for a
        // while. Under `required` it is a failed host like any other.
        plaintext_until_ms_[connection.target().host] =
            unix_ms_now() + std::uint64_t{config_.delivery.tls_plaintext_fallback_s} * 1000;
        log::warning("{}; retrying {} without TLS", reason, connection.target().host);
    } else if (connection.transactions() == 0) {
        destination.failed_targets[connection.target().host + "|" +
                                   connection.target().address.to_string()] = unix_ms_now();
        log::info("{}", error);
    }
    if (link.job) {
        Job job = std::move(*link.job);
        link.job.reset();
        job_done(job.id, error);
    }
    if (!stopping_) {
        reactor_.defer([this, &destination] { kick(destination); });
    }
}

void Delivery::on_closed(OutboundConnection& connection) {
    // Destroyed on a later turn: the connection is still inside its own callback.
    reactor_.defer([this, pointer = &connection] {
        auto found = links_.find(pointer);
        if (found == links_.end()) {
            return;
        }
        Destination& destination = *found->second->destination;
        std::erase(destination.connections, pointer);
        reactor_.timers().cancel(found->second->idle_timer);
        reactor_.timers().cancel(found->second->rate_timer);
        links_.erase(found);
        if (stopping_) {
            maybe_finish_shutdown();
        } else {
            kick(destination);
        }
    });
}

}  // namespace relay::delivery
