// delivery.cc -- the per-worker delivery scheduler: start, messages into jobs, retry timers,
// shutdown.
#include "relay/delivery/delivery.h"

#include <algorithm>
#include <chrono>

#include "delivery_internal.h"
#include "relay/base/ascii.h"
#include "relay/base/assert.h"
#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/delivery/return_path.h"
#include "relay/smtp/address.h"
#include "resolver_loop.h"

namespace relay::delivery {

Delivery::Delivery(engine::Reactor& reactor, const config::Config& config,
                   spool::WorkerSpool& spool, DestinationBudget& budget)
    : reactor_(reactor), config_(config), spool_(spool), budget_(budget) {
    retry_.schedule_s = config.delivery.retry_schedule_s;
    retry_.maximum_age_s = config.delivery.maximum_age_s;
}

void Delivery::reconfigure(std::shared_ptr<const config::Config> config) {
    retry_.schedule_s = config->delivery.retry_schedule_s;
    retry_.maximum_age_s = config->delivery.maximum_age_s;
    snapshot_ = std::move(config);
}

Delivery::~Delivery() {
    reactor_.timers().cancel(grace_timer_);
    reactor_.timers().cancel(sweep_timer_);
    for (auto& [key, destination] : destinations_) {
        reactor_.timers().cancel(destination->budget_timer);
    }
    for (auto& [id, timer] : retry_timers_) {
        reactor_.timers().cancel(timer);
    }
}

Status Delivery::start() {
    resolver_ = std::make_unique<internal::ResolverLoop>(reactor_);
    ResolverOptions options;
    options.servers = config_.delivery.resolvers;
    options.timeout_ms = config_.delivery.dns_timeout_ms;
    Status created = resolver_->create(options);
    if (!created) {
        return Error{"delivery.resolvers: " + created.error().message};
    }
    tls::ClientConfig opportunistic;
    opportunistic.verify = tls::Verify::opportunistic;
    opportunistic.ca_file = config_.delivery.ca_file;
    auto context = tls::Context::client(opportunistic);
    if (!context) {
        // Without CA certificates opportunistic TLS still encrypts; verification reports false.
        opportunistic.ca_file.clear();
        context = tls::Context::client(opportunistic);
    }
    if (!context) {
        return Error{"cannot set up outbound TLS: " + context.error().message};
    }
    tls_opportunistic_.emplace(std::move(context.value()));
    tls::ClientConfig required = opportunistic;
    required.verify = tls::Verify::required;
    required.ca_file = config_.delivery.ca_file;
    if (auto strict = tls::Context::client(required)) {
        tls_required_.emplace(std::move(strict.value()));
    }
    tls::ClientConfig dane = opportunistic;
    dane.verify = tls::Verify::dane;
    auto dane_context = tls::Context::client(dane);
    if (!dane_context) {
        return Error{"cannot set up outbound TLS for DANE: " + dane_context.error().message};
    }
    tls_dane_.emplace(std::move(dane_context.value()));
    sweep_idle();  // arms the sweep timer
    if (mta_sts_ != nullptr && mta_sts_refreshes_) {
        refresh_mta_sts();
    }
    spool_.set_on_queued([this](spool::QueueId id) { enqueue(id); });
    std::vector<spool::QueueId> queued;
    spool_.for_each([&](const spool::QueuedMessage& message) { queued.push_back(message.id); });
    for (spool::QueueId id : queued) {
        enqueue(id);
    }
    return {};
}

void Delivery::enqueue(spool::QueueId id) {
    const spool::QueuedMessage* message = spool_.find(id);
    if (message == nullptr || stopping_) {
        return;
    }
    if (message->next_attempt_unix_ms > unix_ms_now()) {
        schedule_retry(id, message->next_attempt_unix_ms);
        return;
    }
    dispatch(id);
}

void Delivery::schedule_retry(spool::QueueId id, std::uint64_t at_unix_ms) {
    if (auto found = retry_timers_.find(id); found != retry_timers_.end()) {
        reactor_.timers().cancel(found->second);
    }
    std::uint64_t now = unix_ms_now();
    auto delay = std::chrono::milliseconds(at_unix_ms > now ? at_unix_ms - now : 0);
    retry_timers_[id] = reactor_.timers().add(reactor_.now() + delay, [this, id] {
        retry_timers_.erase(id);
        if (!stopping_) {
            dispatch(id);
        }
    });
}

void Delivery::dispatch(spool::QueueId id) {
    spool::QueuedMessage* message = spool_.find(id);
    if (message == nullptr || attempts_.contains(id)) {
        return;
    }
    if (message->pending_count() == 0) {
        complete(id);
        return;
    }
    // One job per recipient domain, in the order the recipients were given. Under VERP each
    // recipient has its own envelope sender (delivery/return_path.h): the job then carries one
    // transaction per recipient, one after another on the connection that took it.
    bool per_recipient = uses_verp(config_.return_path, *message);
    std::vector<std::pair<std::string, Job>> jobs;
    std::unordered_map<std::string, std::size_t> job_of_domain;  // O(1) per recipient
    for (std::uint32_t index = 0; index < message->recipients.size(); ++index) {
        const spool::Recipient& recipient = message->recipients[index];
        if (recipient.status != spool::RecipientStatus::pending) {
            continue;
        }
        std::string domain = smtp::domain_of(recipient.address);
        auto [slot, added] = job_of_domain.try_emplace(domain, jobs.size());
        if (added) {
            jobs.push_back({std::move(domain), Job{id, {}, per_recipient}});
        }
        jobs[slot->second].second.recipients.push_back(index);
    }
    attempts_[id].jobs_outstanding = static_cast<std::uint32_t>(jobs.size());
    for (auto& [domain, job] : jobs) {
        Destination& destination = destination_for(domain);
        destination.jobs.push_back(std::move(job));
        kick(destination);
    }
}

std::span<const std::uint32_t> Delivery::Job::in_transaction() const {
    if (!transaction_per_recipient) {
        return recipients;
    }
    RELAY_ASSERT(next < recipients.size());
    return std::span<const std::uint32_t>(recipients).subspan(next, 1);
}

Delivery::Destination& Delivery::destination_for(const std::string& domain) {
    const config::Route* route = nullptr;
    std::string key = domain;
    for (std::size_t index = 0; index < config_.delivery.routes.size(); ++index) {
        const config::Route& candidate = config_.delivery.routes[index];
        if (ascii_lower(candidate.domain) == domain || candidate.domain == "*") {
            route = &candidate;
            key = "route:" + std::to_string(index);
            break;
        }
    }
    auto& slot = destinations_[key];
    if (!slot) {
        slot = std::make_unique<Destination>();
        slot->key = key;
        slot->domain = domain;
        slot->route = route;
    }
    idle_destinations_.touch(key, steady_ms(reactor_.now()));
    return *slot;
}

// ---------------------------------------------------------------------------------------------
// Shutdown

void Delivery::shutdown(std::function<void()> done) {
    stopping_ = true;
    shutdown_done_ = std::move(done);
    for (auto& [id, timer] : retry_timers_) {
        reactor_.timers().cancel(timer);
    }
    retry_timers_.clear();
    reactor_.timers().cancel(sweep_timer_);
    sweep_timer_ = 0;
    reactor_.timers().cancel(mta_sts_refresh_timer_);
    mta_sts_refresh_timer_ = 0;
    for (auto& [key, destination] : destinations_) {
        reactor_.timers().cancel(destination->budget_timer);
        destination->budget_timer = 0;
    }
    if (resolver_) {
        resolver_->resolver().cancel_all();
    }
    for (auto& [connection, link] : links_) {
        if (!link->done && !link->job) {
            link->done = true;
            connection->quit();
        }
    }
    grace_timer_ = reactor_.timers().add(
        reactor_.now() + std::chrono::seconds(config_.server.shutdown_grace_s), [this] {
            grace_timer_ = 0;
            std::vector<OutboundConnection*> open;
            for (auto& [connection, link] : links_) {
                open.push_back(connection);
            }
            for (OutboundConnection* connection : open) {
                connection->abort();
            }
        });
    maybe_finish_shutdown();
}

void Delivery::maybe_finish_shutdown() {
    if (!stopping_ || !links_.empty() || !shutdown_done_) {
        return;
    }
    reactor_.timers().cancel(grace_timer_);
    grace_timer_ = 0;
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
}

}  // namespace relay::delivery
