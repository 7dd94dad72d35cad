// mta_sts.cc -- a destination's MTA-STS policy (RFC 8461) and its TLS report counts (RFC 8460).
//
// Before each MX lookup of a destination that MTA-STS applies to, `_mta-sts.<domain>` TXT is
// looked up on this worker's resolver. A record whose id matches the cached policy uses it at
// once; a new id (or no cached policy) resolves mta-sts.<domain> here and hands the HTTPS fetch
// to the policy service's thread, whose answer is posted back to this worker. No record, or a
// failed lookup or fetch: a cached policy that has not expired stays in force, else none
// (§5). Then the MX lookup goes on (routing.cc), and connections.cc applies tls_decision().
//
// Thread: one worker. Never blocks: the fetch runs on the service's thread.
#include <algorithm>
#include <chrono>

#include "delivery_internal.h"
#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/delivery/idna.h"
#include "resolver_loop.h"

namespace relay::delivery {
namespace {

std::string policy_domain(const std::string& domain) {
    return domain_to_ascii(domain).value_or(domain);
}

// How often the refreshing worker asks which policies are due, and how many it takes at once
// (a burst of due policies is spread over the next ticks, a few DNS lookups each).
constexpr auto refresh_tick = std::chrono::seconds(1);
constexpr std::size_t refresh_batch_max = 16;

}  // namespace

bool Delivery::wants_mta_sts(const Destination& destination) const {
    if (mta_sts_ == nullptr || destination.route != nullptr || !current().delivery.mta_sts) {
        return false;
    }
    const config::Shaping* rule = shaping_rule(destination);
    if (rule != nullptr && rule->mta_sts.has_value() && !*rule->mta_sts) {
        return false;
    }
    config::TlsPolicy configured = rule != nullptr && rule->tls ? *rule->tls : config_.delivery.tls;
    return configured != config::TlsPolicy::none &&
           !plan_hosts_without_dns(policy_domain(destination.domain)).has_value();
}

void Delivery::discover_mta_sts(Destination& destination) {
    destination.resolving = true;
    std::string domain = policy_domain(destination.domain);
    Destination* target = &destination;
    // Ends discovery with what the cache holds; resolve() goes on from a later turn.
    auto settle = [this, target, domain] {
        target->mta_sts = mta_sts_->cached(domain);
        target->mta_sts_discovered = true;
        target->resolving = false;
        reactor_.defer([this, target] { resolve(*target); });
    };
    auto started = resolver_->resolver().lookup_txt(
        "_mta-sts." + domain, [this, target, domain, settle](const TxtLookup& txt) {
            std::optional<std::string> id = txt.outcome == DnsOutcome::found
                                                ? sts::policy_id_from_txt(txt.records)
                                                : std::nullopt;
            std::optional<sts::CachedPolicy> cached = mta_sts_->cached(domain);
            if (!id || (cached && cached->id == *id)) {
                settle();
                return;
            }
            fetch_mta_sts(*target, *id);
        });
    resolver_->after_call();
    if (!started) {
        settle();
    }
}

void Delivery::fetch_mta_sts(Destination& destination, const std::string& id) {
    std::string domain = policy_domain(destination.domain);
    std::string key = destination.key;
    auto started = resolver_->resolver().lookup_addresses(
        "mta-sts." + domain, AddressFamilies::both,
        [this, domain, id, key](const AddressLookup& lookup) {
            std::vector<std::string> addresses;
            for (const IpAddress& address : lookup.addresses) {
                addresses.push_back(address.to_string());
            }
            std::weak_ptr<bool> alive = alive_;
            engine::Reactor* reactor = &reactor_;
            auto done = [this, reactor, alive, key](sts::FetchResult result) {
                // On the service's thread: the answer goes back to this worker.
                reactor->post([this, alive, key, result = std::move(result)]() mutable {
                    if (alive.lock()) {
                        mta_sts_found(key, std::move(result));
                    }
                });
            };
            if (!mta_sts_->fetch(domain, id, std::move(addresses), std::move(done))) {
                sts::FetchResult refused;
                refused.failure = sts::ResultType::sts_policy_fetch_error;
                refused.reason = "MTA-STS policy of " + domain + " not fetched: queue full";
                refused.policy = mta_sts_->cached(domain);
                reactor_.defer([this, key, refused = std::move(refused)]() mutable {
                    mta_sts_found(key, std::move(refused));
                });
            }
        });
    resolver_->after_call();
    if (!started) {
        sts::FetchResult failed;
        failed.failure = sts::ResultType::sts_policy_fetch_error;
        failed.reason = started.error().message;
        failed.policy = mta_sts_->cached(domain);
        reactor_.defer([this, key, failed = std::move(failed)]() mutable {
            mta_sts_found(key, std::move(failed));
        });
    }
}

void Delivery::mta_sts_found(const std::string& key, sts::FetchResult result) {
    auto found = destinations_.find(key);
    if (found == destinations_.end() || stopping_) {
        return;
    }
    Destination& destination = *found->second;
    destination.mta_sts = std::move(result.policy);
    if (result.failure) {
        count_policy_failure(destination, *result.failure);
    }
    destination.mta_sts_discovered = true;
    destination.resolving = false;
    resolve(destination);
}

// RFC 8461 §5.1: "Senders SHOULD proactively refresh cached policies before they expire", so
// that a domain that gets mail rarely keeps its policy and an attacker finds no gap between two
// fetches. The service says which are due; this worker looks up the TXT record and the policy
// server as for a send, and the service's thread fetches. A domain whose TXT record is gone
// keeps its cached policy until it expires (§5), and the log says so.
void Delivery::refresh_mta_sts() {
    mta_sts_refresh_timer_ = reactor_.timers().add(reactor_.now() + refresh_tick, [this] {
        mta_sts_refresh_timer_ = 0;
        if (stopping_) {
            return;
        }
        for (const sts::CachedPolicy& due : mta_sts_->due_for_refresh(refresh_batch_max)) {
            refresh_mta_sts_policy(due.domain);
        }
        refresh_mta_sts();
    });
}

void Delivery::refresh_mta_sts_policy(const std::string& domain) {
    auto started = resolver_->resolver().lookup_txt(
        "_mta-sts." + domain, [this, domain](const TxtLookup& txt) {
            std::optional<std::string> id = txt.outcome == DnsOutcome::found
                                                ? sts::policy_id_from_txt(txt.records)
                                                : std::nullopt;
            if (!id) {
                log::warning(
                    "refresh: no MTA-STS TXT record for {} ({}); the cached policy "
                    "stays in force until it expires",
                    domain, txt.reason.empty() ? "none valid" : txt.reason);
                return;
            }
            auto addresses = resolver_->resolver().lookup_addresses(
                "mta-sts." + domain, AddressFamilies::both,
                [this, domain, id = *id](const AddressLookup& lookup) {
                    std::vector<std::string> texts;
                    for (const IpAddress& address : lookup.addresses) {
                        texts.push_back(address.to_string());
                    }
                    // The service keeps what it fetched; nothing waits here for the answer.
                    (void)mta_sts_->fetch(
                        domain, id, std::move(texts), [](const sts::FetchResult&) {}, true);
                });
            resolver_->after_call();
            if (!addresses) {
                log::warning("refresh: MTA-STS policy of {}: {}", domain,
                             addresses.error().message);
            }
        });
    resolver_->after_call();
    if (!started) {
        log::warning("refresh: MTA-STS policy of {}: {}", domain, started.error().message);
    }
}

TlsDecision Delivery::tls_decision(const Destination& destination,
                                   const DeliveryTarget* target) const {
    config::TlsPolicy configured =
        destination.route != nullptr ? destination.route->tls : config_.delivery.tls;
    if (destination.route == nullptr) {
        const config::Shaping* rule = shaping_rule(destination);
        if (rule != nullptr && rule->tls) {
            configured = *rule->tls;
        }
    }
    std::optional<sts::Policy> policy;
    if (destination.mta_sts && wants_mta_sts(destination)) {
        policy = destination.mta_sts->policy;
    }
    DaneInput dane;
    if (target != nullptr) {
        dane = dane_input(destination, *target);
    }
    return decide_tls(configured, destination.domain, policy, dane);
}

void Delivery::count_tls(const Link& link, const OutboundConnection& connection,
                         std::optional<sts::ResultType> failure) {
    if (tls_report_ == nullptr || !link.tls.reported()) {
        return;
    }
    sts::ReportKey key;
    key.day = sts::report_day(unix_ms_now() / 1000);
    key.policy_domain = policy_domain(link.destination->domain);
    key.policy_type = link.tls.policy_type();
    key.mx_host = connection.target().host;
    key.result = failure;
    // RFC 8460 §4.4: the report names the policy the session was held to.
    sts::PolicyWhere where{key.day, key.policy_domain, key.policy_type, {}};
    if (link.tls.applied == AppliedTls::dane) {
        auto found = link.destination->dane.find(key.mx_host);
        if (found != link.destination->dane.end() && found->second != nullptr) {
            where.mx_host = key.mx_host;
            std::vector<std::string> lines;
            for (const tls::TlsaRecord& record : found->second->published) {
                lines.push_back(
                    tls::tlsa_record_presentation(record, key.mx_host, connection.target().port));
            }
            tls_report_->note_policy(where, lines);
        }
    } else if (link.tls.sts) {
        tls_report_->note_policy(where, sts::policy_lines(*link.tls.sts));
    }
    tls_report_->count(std::move(key));
}

void Delivery::count_policy_failure(const Destination& destination, sts::ResultType failure,
                                    sts::PolicyType type, const std::string& mx_host) {
    if (tls_report_ == nullptr) {
        return;
    }
    sts::ReportKey key;
    key.day = sts::report_day(unix_ms_now() / 1000);
    key.policy_domain = policy_domain(destination.domain);
    key.policy_type = type;
    key.mx_host = mx_host;
    key.result = failure;
    tls_report_->count(std::move(key));
}

}  // namespace relay::delivery
