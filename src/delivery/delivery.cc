// delivery.cc -- the per-worker delivery scheduler.
#include "relay/delivery/delivery.h"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/delivery/dsn.h"
#include "relay/delivery/idna.h"
#include "relay/smtp/address.h"

namespace relay::delivery {
namespace {

constexpr auto idle_connection_keep = std::chrono::seconds(2);
constexpr std::uint32_t route_cache_s = 300;
constexpr std::uint64_t target_failure_memory_ms = 60 * 1000;

// The Received: trace field (RFC 5321 §4.4) prepended at send time.
std::string received_header(const spool::QueuedMessage& message, const std::string& hostname,
                            const std::vector<std::uint32_t>& recipients) {
    const spool::Envelope& envelope = message.envelope;
    std::string field = "Received: ";
    if (envelope.origin == spool::Origin::client) {
        field += "from " +
                 (envelope.client_helo.empty() ? std::string("unknown") : envelope.client_helo);
        field += " (" + envelope.client_ip + ")\r\n\t";
    }
    field += "by " + hostname + " (relay) with " +
             (envelope.protocol.empty() ? std::string("ESMTP") : envelope.protocol) + " id " +
             spool::format_queue_id(message.id);
    if (recipients.size() == 1) {
        field += "\r\n\tfor <" + message.recipients[recipients.front()].address + ">";
    }
    field += "; " + rfc5322_date(envelope.received_unix_ms) + "\r\n";
    return field;
}

// "4.4.1" style enhanced code of a reply, or a default by its class.
std::string status_of(const smtp::Reply& reply) {
    if (!reply.enhanced.empty()) {
        return reply.enhanced;
    }
    return reply.code >= 500 ? "5.0.0" : (reply.code >= 400 ? "4.0.0" : "2.0.0");
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
// The resolver's sockets, polled through the worker's ring.

class Delivery::ResolverLoop final : public FdWatcher {
  public:
    explicit ResolverLoop(engine::Reactor& reactor) : reactor_(reactor) {}
    ~ResolverLoop() override {
        resolver_.reset();  // tells us to stop watching; then no poll may outlive us
        reactor_.timers().cancel(timer_);
    }

    Status create(const ResolverOptions& options) {
        auto created = Resolver::create(options, *this);
        if (!created) {
            return created.error();
        }
        resolver_.emplace(std::move(created.value()));
        return {};
    }
    Resolver& resolver() { return *resolver_; }

    // After any call into the resolver: deliver what finished, re-arm the timeout.
    void after_call() {
        if (!resolver_) {
            return;
        }
        reactor_.timers().cancel(timer_);
        timer_ = 0;
        if (auto wait = resolver_->next_timeout()) {
            timer_ = reactor_.timers().add(reactor_.now() + *wait, [this] {
                timer_ = 0;
                resolver_->on_timeout();
                after_call();
            });
        }
    }

    void watch(int fd, bool readable, bool writable) override {
        unsigned mask = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
        auto found = watches_.find(fd);
        if (mask == 0) {
            if (found != watches_.end()) {
                std::unique_ptr<Watch> watch = std::move(found->second);
                watches_.erase(found);
                watch->retired = true;
                if (watch->in_flight) {
                    cancel(*watch);
                    retired_.push_back(std::move(watch));
                }
            }
            return;
        }
        if (found == watches_.end()) {
            auto watch = std::make_unique<Watch>();
            watch->loop = this;
            watch->fd = fd;
            found = watches_.emplace(fd, std::move(watch)).first;
        }
        Watch& watch = *found->second;
        watch.wanted = mask;
        if (!watch.in_flight) {
            arm(watch);
        } else if (watch.armed != mask) {
            cancel(watch);  // re-armed with the new mask when the cancellation completes
        }
    }

  private:
    struct Watch final : engine::Operation {
        ResolverLoop* loop = nullptr;
        int fd = -1;
        unsigned wanted = 0;
        unsigned armed = 0;
        bool in_flight = false;
        bool retired = false;
        void complete(int result, std::uint32_t) override { loop->on_poll(this, result); }
    };

    void arm(Watch& watch) {
        io_uring_sqe* sqe = reactor_.prepare(&watch);
        io_uring_prep_poll_add(sqe, watch.fd, watch.wanted);
        watch.armed = watch.wanted;
        watch.in_flight = true;
    }
    void cancel(Watch& watch) {
        io_uring_sqe* sqe = reactor_.prepare_detached();
        io_uring_prep_cancel(sqe, &watch, 0);
    }
    void on_poll(Watch* watch, int result) {
        watch->in_flight = false;
        if (watch->retired) {
            std::erase_if(retired_, [watch](const auto& owned) { return owned.get() == watch; });
            return;
        }
        int fd = watch->fd;
        if (result > 0 && resolver_) {
            bool readable = (result & (POLLIN | POLLERR | POLLHUP)) != 0;
            bool writable = (result & POLLOUT) != 0;
            resolver_->on_ready(fd, readable, writable);
        }
        // The resolver may have stopped watching (and retired) this fd meanwhile.
        auto found = watches_.find(fd);
        if (found != watches_.end() && found->second.get() == watch && !watch->in_flight) {
            arm(*watch);
        }
        after_call();
    }

    engine::Reactor& reactor_;
    std::optional<Resolver> resolver_;
    std::unordered_map<int, std::unique_ptr<Watch>> watches_;
    std::vector<std::unique_ptr<Watch>> retired_;
    engine::TimerQueue::TimerId timer_ = 0;
};

// ---------------------------------------------------------------------------------------------

struct Delivery::Destination {
    std::string key;     // the domain, or "route:N" for a static route
    std::string domain;  // a domain it serves (for MX lookups and logs)
    const config::Route* route = nullptr;
    std::optional<RoutePlan> plan;
    std::uint64_t plan_expires_ms = 0;
    bool resolving = false;
    std::deque<Job> jobs;
    std::vector<OutboundConnection*> connections;
    std::unordered_map<std::string, std::uint64_t> failed_targets;  // name -> when
    std::string last_error;
};

struct Delivery::Link {
    std::unique_ptr<OutboundConnection> connection;
    Destination* destination = nullptr;
    std::optional<Job> job;
    engine::TimerQueue::TimerId idle_timer = 0;
    config::TlsPolicy tls_policy = config::TlsPolicy::opportunistic;
    bool done = false;  // failed or quit: takes no more jobs
};

Delivery::Delivery(engine::Reactor& reactor, const config::Config& config,
                   spool::WorkerSpool& spool)
    : reactor_(reactor), config_(config), spool_(spool) {
    retry_.schedule_s = config.delivery.retry_schedule_s;
    retry_.maximum_age_s = config.delivery.maximum_age_s;
}

Delivery::~Delivery() {
    reactor_.timers().cancel(grace_timer_);
    for (auto& [id, timer] : retry_timers_) {
        reactor_.timers().cancel(timer);
    }
}

Status Delivery::start() {
    resolver_ = std::make_unique<ResolverLoop>(reactor_);
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
    // One job per recipient domain, in the order the recipients were given.
    std::vector<std::pair<std::string, Job>> jobs;
    for (std::uint32_t index = 0; index < message->recipients.size(); ++index) {
        const spool::Recipient& recipient = message->recipients[index];
        if (recipient.status != spool::RecipientStatus::pending) {
            continue;
        }
        std::string domain = smtp::domain_of(recipient.address);
        auto same = std::find_if(jobs.begin(), jobs.end(),
                                 [&](const auto& job) { return job.first == domain; });
        if (same == jobs.end()) {
            jobs.push_back({domain, Job{id, {}}});
            same = jobs.end() - 1;
        }
        same->second.recipients.push_back(index);
    }
    attempts_[id].jobs_outstanding = static_cast<std::uint32_t>(jobs.size());
    for (auto& [domain, job] : jobs) {
        Destination& destination = destination_for(domain);
        destination.jobs.push_back(std::move(job));
        kick(destination);
    }
}

Delivery::Destination& Delivery::destination_for(const std::string& domain) {
    const config::Route* route = nullptr;
    std::string key = domain;
    for (std::size_t index = 0; index < config_.delivery.routes.size(); ++index) {
        const config::Route& candidate = config_.delivery.routes[index];
        if (smtp::ascii_lower(candidate.domain) == domain || candidate.domain == "*") {
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
    return *slot;
}

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
    std::size_t starting = 0;
    for (OutboundConnection* connection : destination.connections) {
        Link& link = *links_.at(connection);
        if (link.done) {
            continue;
        }
        if (connection->ready() && !link.job) {
            give_job(link, destination);
            if (destination.jobs.empty()) {
                return;
            }
        } else if (!connection->ready()) {
            ++starting;
        }
    }
    std::size_t live = 0;
    for (OutboundConnection* connection : destination.connections) {
        live += links_.at(connection)->done ? 0 : 1;
    }
    while (starting < destination.jobs.size() && live < config_.delivery.connections_per_host_max) {
        if (!open_connection(destination)) {
            return;
        }
        ++starting;
        ++live;
    }
}

void Delivery::resolve(Destination& destination) {
    if (destination.resolving) {
        return;
    }
    destination.resolving = true;
    MxPlanOptions options;
    options.hosts_max = config_.delivery.hosts_per_domain_max;
    options.port = config_.delivery.port;
    options.local_host_names = {smtp::ascii_lower(config_.server.hostname)};
    Destination* target = &destination;
    // Every plan reaches resolved() on a later turn, never from inside resolve():
    // kick -> resolve -> resolved -> kick would recurse.
    auto settle = [this, target](RoutePlan plan, std::uint32_t ttl_s) {
        reactor_.defer([this, target, plan = std::move(plan), ttl_s]() mutable {
            resolved(*target, std::move(plan), ttl_s);
        });
    };

    auto expand = [this, settle, options](HostPlan hosts) {
        if (!hosts.ok()) {
            RoutePlan failed;
            failed.domain = hosts.domain;
            failed.failure = hosts.failure;
            settle(std::move(failed), 0);
            return;
        }
        auto lookups = std::make_shared<std::vector<AddressLookup>>();
        auto outstanding = std::make_shared<std::size_t>(0);
        auto plan_hosts = std::make_shared<HostPlan>(std::move(hosts));
        auto finish = [settle, options, lookups, plan_hosts] {
            settle(plan_targets(*plan_hosts, *lookups, options, thread_random_source()),
                   route_cache_s);
        };
        for (const PlannedHost& host : plan_hosts->hosts) {
            if (!host.needs_address_lookup()) {
                continue;
            }
            ++*outstanding;
            auto started = resolver_->resolver().lookup_addresses(
                host.name, AddressFamilies::both,
                [lookups, outstanding, finish](AddressLookup lookup) {
                    lookups->push_back(std::move(lookup));
                    if (--*outstanding == 0) {
                        finish();
                    }
                });
            if (!started) {
                --*outstanding;
            }
        }
        resolver_->after_call();
        if (*outstanding == 0) {
            finish();
        }
    };

    if (destination.route != nullptr) {
        const std::string& host = destination.route->host;
        std::size_t colon = host.rfind(':');
        std::string name = host.substr(0, colon);
        auto port = static_cast<std::uint16_t>(std::stoi(host.substr(colon + 1)));
        options.port = port;
        if (auto literal = IpAddress::parse(
                name.size() > 2 && name.front() == '[' ? name.substr(1, name.size() - 2) : name)) {
            RoutePlan plan;
            plan.domain = destination.domain;
            plan.targets.push_back(DeliveryTarget{name, true, 0, *literal, port});
            settle(std::move(plan), route_cache_s);
            return;
        }
        HostPlan hosts;
        hosts.domain = destination.domain;
        hosts.hosts.push_back(PlannedHost{smtp::ascii_lower(name), 0, false, std::nullopt});
        expand(std::move(hosts));
        return;
    }
    // DNS needs the A-label form of an internationalised domain (the envelope keeps UTF-8).
    std::string lookup = domain_to_ascii(destination.domain).value_or(destination.domain);
    if (auto literal = plan_hosts_without_dns(lookup)) {
        expand(std::move(*literal));
        return;
    }
    auto started =
        resolver_->resolver().lookup_mx(lookup, [expand, lookup, options](const MxLookup& mx) {
            expand(plan_hosts(lookup, mx, options, thread_random_source()));
        });
    resolver_->after_call();
    if (!started) {
        RoutePlan failed;
        failed.domain = destination.domain;
        failed.failure = RouteFailure{false, 451, "4.4.3", started.error().message};
        settle(std::move(failed), 0);
    }
}

void Delivery::resolved(Destination& destination, RoutePlan plan, std::uint32_t ttl_s) {
    destination.resolving = false;
    if (!plan.ok()) {
        log::info("route to {}: {}", destination.domain, plan.failure->reason);
    }
    destination.plan = std::move(plan);
    destination.plan_expires_ms = unix_ms_now() + std::uint64_t{ttl_s} * 1000;
    kick(destination);
}

bool Delivery::open_connection(Destination& destination) {
    std::uint64_t now = unix_ms_now();
    const DeliveryTarget* chosen = nullptr;
    for (const DeliveryTarget& target : destination.plan->targets) {
        std::string name = target.host + "|" + target.address.to_string();
        auto failed = destination.failed_targets.find(name);
        if (failed == destination.failed_targets.end() ||
            now - failed->second > target_failure_memory_ms) {
            chosen = &target;
            break;
        }
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
    config::TlsPolicy policy =
        destination.route != nullptr ? destination.route->tls : config_.delivery.tls;
    OutboundSettings settings;
    settings.client.helo_name = config_.server.hostname;
    settings.client.require_tls = policy == config::TlsPolicy::required;
    settings.client.try_starttls = policy != config::TlsPolicy::none;
    settings.timeouts = &config_.delivery;
    if (policy == config::TlsPolicy::required) {
        settings.tls = tls_required_ ? &*tls_required_ : nullptr;
    } else if (policy == config::TlsPolicy::opportunistic) {
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
    link->tls_policy = policy;
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
    give_job(link, *link.destination);
}

void Delivery::give_job(Link& link, Destination& destination) {
    reactor_.timers().cancel(link.idle_timer);
    link.idle_timer = 0;
    OutboundConnection* connection = link.connection.get();
    if (stopping_ || link.done) {
        return;
    }
    if (connection->transactions() >= config_.delivery.messages_per_connection_max) {
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
    outbound.reverse_path = message->envelope.reverse_path;
    for (std::uint32_t recipient : link.job->recipients) {
        outbound.recipients.push_back(message->recipients[recipient].address);
    }
    outbound.smtputf8 = message->envelope.smtputf8;
    outbound.eight_bit = message->envelope.eight_bit;
    outbound.prefix = received_header(*message, config_.server.hostname, link.job->recipients);
    outbound.body_bytes = message->envelope.body_bytes;
    outbound.body_ends_with_crlf = message->envelope.ends_with_crlf;
    link.connection->send(outbound, std::make_unique<SpoolBodySource>(std::move(reader)));
}

void Delivery::on_result(OutboundConnection& connection, smtp::TransactionResult result) {
    Link& link = *links_.at(&connection);
    RELAY_ASSERT(link.job.has_value());
    Job job = std::move(*link.job);
    link.job.reset();
    std::string error;
    if (spool::QueuedMessage* message = spool_.find(job.id)) {
        bool complete = result.recipient_replies.size() == job.recipients.size();
        for (std::size_t index = 0; index < job.recipients.size(); ++index) {
            smtp::Reply reply = complete ? result.recipient_replies[index]
                                         : smtp::Reply{451, "4.3.0", "internal: reply missing"};
            RecipientOutcome outcome;
            outcome.kind = reply.positive()    ? RecipientOutcome::Kind::delivered
                           : reply.permanent() ? RecipientOutcome::Kind::failed
                                               : RecipientOutcome::Kind::deferred;
            bool relay_failed =
                complete && index < result.relay_failed.size() && result.relay_failed[index];
            outcome.remote = result.local || relay_failed ? std::string() : connection.name();
            outcome.reply = reply.summary();
            if (outcome.kind == RecipientOutcome::Kind::deferred) {
                error = outcome.remote.empty() ? outcome.reply
                                               : outcome.remote + " said: " + outcome.reply;
            }
            record(*message, job.recipients[index], std::move(outcome));
        }
    }
    job_done(job.id, error);
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
    Destination& destination = *link.destination;
    if (reason.empty()) {
        return;  // an orderly QUIT
    }
    destination.last_error = reason;
    if (connection.tls_failed() && !connection.tls_active() &&
        link.tls_policy == config::TlsPolicy::opportunistic) {
        // RFC 7435: under opportunistic TLS, a host whose STARTTLS fails gets plaintext for a
        // while. Under `required` it is a failed host like any other.
        plaintext_until_ms_[connection.target().host] =
            unix_ms_now() + std::uint64_t{config_.delivery.tls_plaintext_fallback_s} * 1000;
        log::warning("{}; retrying {} without TLS", reason, connection.target().host);
    } else if (connection.transactions() == 0) {
        destination.failed_targets[connection.target().host + "|" +
                                   connection.target().address.to_string()] = unix_ms_now();
        log::info("{}", reason);
    }
    if (link.job) {
        Job job = std::move(*link.job);
        link.job.reset();
        job_done(job.id, reason);
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
        links_.erase(found);
        if (stopping_) {
            maybe_finish_shutdown();
        } else {
            kick(destination);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Outcomes, retries and bounces

void Delivery::defer_queue(Destination& destination, const std::string& reason) {
    std::deque<Job> jobs;
    jobs.swap(destination.jobs);
    for (Job& job : jobs) {
        if (spool::QueuedMessage* message = spool_.find(job.id)) {
            for (std::uint32_t recipient : job.recipients) {
                record(*message, recipient,
                       RecipientOutcome{RecipientOutcome::Kind::deferred, {}, reason});
            }
        }
        job_done(job.id, reason);
    }
}

void Delivery::fail_queue(Destination& destination, const RouteFailure& failure) {
    std::deque<Job> jobs;
    jobs.swap(destination.jobs);
    for (Job& job : jobs) {
        if (spool::QueuedMessage* message = spool_.find(job.id)) {
            for (std::uint32_t recipient : job.recipients) {
                record(*message, recipient,
                       RecipientOutcome{RecipientOutcome::Kind::failed, {}, failure.reply_line()});
            }
        }
        job_done(job.id, {});
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
    log::info("{}: to=<{}>, relay={}, status={}, resource={} ({})",
              spool::format_queue_id(message.id), target.address,
              outcome.remote.empty() ? "none" : outcome.remote, outcome_kind_name(outcome.kind),
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
        std::string reason = "4.4.7 message expired after " +
                             std::to_string(config_.delivery.maximum_age_s / 3600) +
                             " hours in the queue; last error: " + error;
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

void Delivery::send_dsn(spool::QueueId id) {
    attempts_[id].jobs_outstanding = 1;  // marks the message busy while its headers are read
    spool_.read_headers(id, [this, id](Result<std::string> headers) {
        attempts_.erase(id);
        spool::QueuedMessage* message = spool_.find(id);
        if (message == nullptr) {
            return;
        }
        DsnInput input;
        input.reporting_mta = config_.server.hostname;
        input.sender = message->envelope.reverse_path;
        input.queue_id = spool::format_queue_id(id);
        input.resource = message->envelope.resource;
        input.arrival_unix_ms = message->envelope.received_unix_ms;
        input.now_unix_ms = unix_ms_now();
        input.utf8 = message->envelope.smtputf8;
        if (headers) {
            input.original_headers = headers.value();
        }
        for (const spool::Recipient& recipient : message->recipients) {
            if (recipient.status != spool::RecipientStatus::failed) {
                continue;
            }
            DsnRecipient failed;
            failed.address = recipient.address;
            smtp::ReplyReader reader;
            std::string line = recipient.reply + "\r\n";
            (void)reader.feed(line);
            auto parsed = reader.take();
            failed.status = parsed ? status_of(*parsed) : "5.0.0";
            if (failed.status.empty() || failed.status[0] != '5') {
                failed.status = "5" + (failed.status.size() > 1 ? failed.status.substr(1)
                                                                : std::string(".0.0"));
            }
            failed.remote = !recipient.remote.empty();
            failed.remote_mta = recipient.remote.substr(0, recipient.remote.find('['));
            failed.diagnostic = recipient.reply;
            input.recipients.push_back(std::move(failed));
        }
        std::string bytes = build_dsn(input);
        std::size_t header_end = bytes.find("\r\n\r\n");
        auto incoming = spool_.begin_message(bytes.size());
        incoming->append(bytes);
        spool::QueuedMessage dsn;
        dsn.envelope.reverse_path = "";
        // SMTPUTF8 is needed when the notification's envelope or header fields carry UTF-8,
        // that is when the address it goes to does (RFC 6533 body parts need only 8BITMIME).
        const std::string& notified = message->envelope.reverse_path;
        dsn.envelope.smtputf8 =
            std::any_of(notified.begin(), notified.end(), [](char c) { return (c & 0x80) != 0; });
        dsn.envelope.eight_bit =
            std::any_of(bytes.begin(), bytes.end(), [](char c) { return (c & 0x80) != 0; });
        dsn.envelope.received_unix_ms = input.now_unix_ms;
        dsn.envelope.origin = spool::Origin::dsn;
        dsn.envelope.header_bytes = static_cast<std::uint32_t>(
            header_end == std::string::npos ? bytes.size() : header_end + 4);
        dsn.recipients.push_back(spool::Recipient{message->envelope.reverse_path});
        std::string original = input.queue_id;
        spool_.commit(std::move(incoming), std::move(dsn),
                      [original](Result<spool::QueueId> queued) {
                          if (queued) {
                              log::info("{}: sender notification {}", original,
                                        spool::format_queue_id(queued.value()));
                          } else {
                              log::error("{}: cannot queue the sender notification: {}", original,
                                         queued.error().message);
                          }
                      });
        // In the same group commit as the notification's record: the original is done.
        spool_.finish(id);
    });
}

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

// ---------------------------------------------------------------------------------------------
// Shutdown

void Delivery::shutdown(std::function<void()> done) {
    stopping_ = true;
    shutdown_done_ = std::move(done);
    for (auto& [id, timer] : retry_timers_) {
        reactor_.timers().cancel(timer);
    }
    retry_timers_.clear();
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
