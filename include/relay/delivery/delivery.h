// delivery.h -- one worker's deliveries: routing, destination queues, connections, retries,
// bounces, and the queue operations relayctl asks for.
//
// A message's pending recipients are grouped by domain into jobs (one transaction per domain,
// RFC 5321 §3.3 allows many recipients per transaction). Each destination (a recipient domain,
// or a static route shared by many domains) has a queue of jobs, a resolved plan of hosts to
// try (MX order, A/AAAA, kept for the answers' TTL), and connections, each taking jobs one after
// another (connection reuse). How many connections, how many jobs each, and how many jobs per
// second start, is the destination's shape ([[shaping]] or the [delivery] defaults), counted
// over all workers through the shared DestinationBudget. A destination idle for
// destination_idle_s is dropped.
//
// Outcomes: 2xx delivered, 5xx failed (a DSN goes to the sender, never for the null sender),
// 4xx or any connection, TLS or DNS trouble deferred to the next retry time; past the maximum
// age, deferred recipients fail as expired. Every outcome is written to the spool before the
// message is dropped, and reported to the OutcomeListeners.
//
// Thread: one worker. Never blocks.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/base/result.h"
#include "relay/config/config.h"
#include "relay/delivery/destination_budget.h"
#include "relay/delivery/idle_tracker.h"
#include "relay/delivery/mx_plan.h"
#include "relay/delivery/outbound_connection.h"
#include "relay/delivery/outcome.h"
#include "relay/delivery/resolver.h"
#include "relay/delivery/retry_policy.h"
#include "relay/delivery/tls_policy.h"
#include "relay/engine/reactor.h"
#include "relay/spool/worker_spool.h"
#include "relay/sts/policy_service.h"
#include "relay/tls/context.h"

namespace relay::delivery {

namespace internal {
class ResolverLoop;
}  // namespace internal

// Which messages, and which of their recipients, a queue operation applies to.
struct QueueSelector {
    std::optional<spool::QueueId> id;  // one message (all its pending recipients)
    std::string domain;                // pending recipients in this domain (lower case)
    bool all = false;                  // every message
    std::string resource;              // only messages this resource (PROJECT/NAME) sent

    bool matches_recipient(const std::string& address) const;
    bool matches_message(const spool::QueuedMessage& message) const;  // queue_selector.cc
};

struct DaneHost;  // delivery_internal.h

class Delivery final : public OutboundOwner {
  public:
    // `budget` is shared by all workers' Delivery and outlives them.
    Delivery(engine::Reactor& reactor, const config::Config& config, spool::WorkerSpool& spool,
             DestinationBudget& budget);
    ~Delivery();
    Delivery(const Delivery&) = delete;
    Delivery& operator=(const Delivery&) = delete;

    // MTA-STS policies and TLS report counts (relayd's one service; `shard` is this worker's).
    // Before start(); without it, MTA-STS is not looked up.
    // `refreshes`: this worker's resolver refreshes cached policies before they expire (one
    // worker does, RFC 8461 §5.1).
    void use_mta_sts(sts::PolicyService& service, sts::ReportShard& shard, bool refreshes) {
        mta_sts_ = &service;
        tls_report_ = &shard;
        mta_sts_refreshes_ = refreshes;
    }
    // Creates the resolver and TLS context, and schedules every message already in the spool.
    Status start();
    // A reloaded configuration (config/reload.h says which keys change): retries scheduled from
    // now on follow its retry policy. The snapshot is kept for the parts that will read it.
    void reconfigure(std::shared_ptr<const config::Config> config);
    // A message became durable: schedule it.
    void enqueue(spool::QueueId id);
    // Stops starting deliveries; lets transactions in flight end (or aborts them after the
    // grace period); calls `done` when no connection is left.
    void shutdown(std::function<void()> done);

    void add_listener(OutcomeListener* listener) { listeners_.push_back(listener); }

    // Queue operations (relayctl). Each returns how many messages of this worker it touched.
    std::size_t retry_now(const QueueSelector& selector);
    std::size_t remove(const QueueSelector& selector);
    std::size_t bounce(const QueueSelector& selector);

    // OutboundOwner
    void on_ready(OutboundConnection& connection) override;
    void on_result(OutboundConnection& connection, smtp::TransactionResult result) override;
    void on_failed(OutboundConnection& connection, const std::string& reason) override;
    void on_closed(OutboundConnection& connection) override;

  private:
    struct Job {
        spool::QueueId id = 0;
        std::vector<std::uint32_t> recipients;
        // VERP: each recipient in a transaction of its own, on the same connection; `next` is
        // the one being sent.
        bool transaction_per_recipient = false;
        std::size_t next = 0;
        std::string last_error;  // a deferral in an earlier transaction of the job
        std::span<const std::uint32_t> in_transaction() const;
    };
    struct Destination;
    struct Shape;
    struct Link;  // a connection and the job it carries
    struct Attempt {
        std::uint32_t jobs_outstanding = 0;
        std::string last_error;
    };

    void dispatch(spool::QueueId id);
    Destination& destination_for(const std::string& domain);
    void kick(Destination& destination);
    Shape shape_of(const Destination& destination) const;
    // The longest [[shaping]] rule for the destination's domain, if any (shaping.cc).
    const config::Shaping* shaping_rule(const Destination& destination) const;
    void wait_for_budget(Destination& destination);
    void sweep_idle();
    void resolve(Destination& destination);
    // DANE (dane_policy.cc): what each host's TLSA records demand, looked up with the plan.
    using DaneHosts = std::unordered_map<std::string, std::shared_ptr<const DaneHost>>;
    using PlanSettler = std::function<void(RoutePlan, std::uint32_t, DaneHosts)>;
    bool dane_wanted(const Destination& destination) const;
    void look_up_dane(RoutePlan plan, std::uint32_t ttl_s,
                      const std::vector<AddressLookup>& lookups, bool secure,
                      const PlanSettler& settle);
    DaneInput dane_input(const Destination& destination, const DeliveryTarget& target) const;
    void apply_dane(const Destination& destination, const DeliveryTarget& target,
                    OutboundSettings& settings) const;

    // MTA-STS discovery before the MX lookup (mta_sts.cc); resolve() goes on once it is done.
    bool wants_mta_sts(const Destination& destination) const;
    void discover_mta_sts(Destination& destination);
    void fetch_mta_sts(Destination& destination, const std::string& id);
    void mta_sts_found(const std::string& key, sts::FetchResult result);
    void refresh_mta_sts();  // arms the refresh timer
    void refresh_mta_sts_policy(const std::string& domain);
    // The TLS policy for the destination, and for `target` when a host is chosen (DANE).
    TlsDecision tls_decision(const Destination& destination,
                             const DeliveryTarget* target = nullptr) const;
    void count_tls(const Link& link, const OutboundConnection& connection,
                   std::optional<sts::ResultType> failure);
    void count_policy_failure(const Destination& destination, sts::ResultType failure,
                              sts::PolicyType type = sts::PolicyType::sts,
                              const std::string& mx_host = {});
    void resolved(Destination& destination, RoutePlan plan, std::uint32_t ttl_s, DaneHosts dane);
    bool open_connection(Destination& destination, DestinationBudget::Ticket ticket);
    void give_job(Link& link, Destination& destination);
    void send_job(Link& link);
    bool next_pending(Job& job);
    void defer_queue(Destination& destination, const std::string& reason);
    void fail_queue(Destination& destination, const RouteFailure& failure);
    // Records `outcome` for every recipient of every job waiting on `destination`, then ends
    // the jobs with `job_error` (empty: none), as job_done.
    void settle_queue(Destination& destination, const RecipientOutcome& outcome,
                      const std::string& job_error);
    void record(spool::QueuedMessage& message, std::uint32_t recipient, RecipientOutcome outcome);
    void job_done(spool::QueueId id, const std::string& error);
    void attempt_done(spool::QueueId id, const std::string& error);
    void complete(spool::QueueId id);
    void send_dsn(spool::QueueId id);
    void schedule_retry(spool::QueueId id, std::uint64_t at_unix_ms);
    void maybe_finish_shutdown();
    std::vector<spool::QueueId> select(const QueueSelector& selector);
    void retry_one(spool::QueueId id);
    void cancel_retry(spool::QueueId id);
    // Applies `settle_recipient` to the selected pending recipients; completes messages left
    // without pending recipients. Returns how many messages were selected.
    std::size_t settle(
        const QueueSelector& selector,
        const std::function<void(spool::QueuedMessage&, std::uint32_t)>& settle_recipient);

    // The keys SIGHUP may change (shaping, per-destination limits, DNS TTL bounds, idleness) are
    // read from the newest configuration each time they are used; the rest from the one
    // delivery started with (its resolver, TLS contexts and routes were made from it).
    const config::Config& current() const { return snapshot_ ? *snapshot_ : config_; }

    engine::Reactor& reactor_;
    const config::Config& config_;
    std::shared_ptr<const config::Config> snapshot_;  // the last reloaded configuration
    spool::WorkerSpool& spool_;
    DestinationBudget& budget_;
    RetryPolicy retry_;
    std::unique_ptr<internal::ResolverLoop> resolver_;
    std::optional<tls::Context> tls_opportunistic_;
    std::optional<tls::Context> tls_required_;
    std::optional<tls::Context> tls_dane_;  // Verify::dane: the chain is judged by TLSA records
    std::vector<OutcomeListener*> listeners_;
    sts::PolicyService* mta_sts_ = nullptr;
    bool mta_sts_refreshes_ = false;
    engine::TimerQueue::TimerId mta_sts_refresh_timer_ = 0;
    sts::ReportShard* tls_report_ = nullptr;
    // Answers from the policy service's thread check it before they touch this Delivery.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

    std::unordered_map<std::string, std::unique_ptr<Destination>> destinations_;
    std::unordered_map<spool::QueueId, Attempt> attempts_;
    std::unordered_map<spool::QueueId, engine::TimerQueue::TimerId> retry_timers_;
    std::unordered_map<OutboundConnection*, std::unique_ptr<Link>> links_;
    std::unordered_map<std::string, std::uint64_t> plaintext_until_ms_;  // hosts failing TLS
    IdleTracker<std::string> idle_destinations_;  // keys of destinations_, by last use
    engine::TimerQueue::TimerId sweep_timer_ = 0;

    bool stopping_ = false;
    std::function<void()> shutdown_done_;
    engine::TimerQueue::TimerId grace_timer_ = 0;
};

}  // namespace relay::delivery
