// dane_policy.cc -- DANE for SMTP (RFC 7672) in the scheduler: which destinations look up TLSA
// records, what each host's answer demands, and the connection settings that follow.
//
// Thread: one worker. Trust: the AD bit of the configured resolvers, believed only under
// [delivery] dane = true (the operator's statement that they validate DNSSEC and that the path
// to them is safe, as Postfix's smtp_dns_support_level = dnssec). The chain of trust, RFC 7672
// §2.2: the MX answer must be validated (else no DANE for the domain), then each MX host's
// address answers (else no DANE for the host), then its TLSA answer (§2.2.3: validated and
// non-empty means DANE; a denial or an insecure answer means none; a failed lookup means the
// host is not used at all, for an attacker could cause it). DANE takes precedence over every
// other TLS policy for the host: TLS becomes mandatory and never falls back to plaintext.
#include <algorithm>
#include <memory>

#include "delivery_internal.h"
#include "relay/base/log.h"
#include "resolver_loop.h"

namespace relay::delivery {
namespace {

// `domain` is `rule` or a subdomain of it.
bool under(std::string_view domain, std::string_view rule) {
    if (domain.size() == rule.size()) {
        return domain == rule;
    }
    return domain.size() > rule.size() && domain.ends_with(rule) &&
           domain[domain.size() - rule.size() - 1] == '.';
}

DaneHost host_from(const TlsaLookup& lookup) {
    using Mode = DaneHost::Mode;
    DaneHost host;
    switch (lookup.outcome) {
        case DnsOutcome::found:
            if (!lookup.authenticated) {
                host.reason = lookup.reason + ", not DNSSEC-validated";
                return host;
            }
            host.records = tls::usable_tlsa_records(lookup.records);
            host.mode = host.records.empty() ? Mode::encrypt : Mode::verify;
            return host;
        case DnsOutcome::no_data:
        case DnsOutcome::no_domain:
            host.reason = lookup.reason;
            return host;
        case DnsOutcome::temporary_failure:
        case DnsOutcome::malformed_answer:
            host.mode = Mode::failed;
            host.reason = lookup.reason;
            return host;
    }
    return host;
}

}  // namespace

// The TLSA lookups of one plan in flight.
struct PendingDane {
    RoutePlan plan;
    std::uint32_t ttl_s = 0;
    std::unordered_map<std::string, std::shared_ptr<const DaneHost>> hosts;
    std::size_t outstanding = 0;
    std::function<void(RoutePlan, std::uint32_t,
                       std::unordered_map<std::string, std::shared_ptr<const DaneHost>>)>
        settle;

    void finish() { settle(std::move(plan), ttl_s, std::move(hosts)); }
};

// A destination takes part in DANE when the operator trusts the resolvers and no [[shaping]]
// rule turns it off; a static route only when it asks for tls = "dane" (its host is the
// operator's choice, not the recipient domain's).
bool Delivery::dane_wanted(const Destination& destination) const {
    if (!config_.delivery.dane) {
        return false;
    }
    if (destination.route != nullptr) {
        return destination.route->tls == config::TlsPolicy::dane;
    }
    const config::Shaping* chosen = nullptr;
    for (const config::Shaping& rule : current().delivery.shaping) {
        if (under(destination.domain, rule.domain) &&
            (chosen == nullptr || rule.domain.size() > chosen->domain.size())) {
            chosen = &rule;
        }
    }
    return chosen == nullptr || chosen->dane;
}

void Delivery::look_up_dane(RoutePlan plan, std::uint32_t ttl_s,
                            const std::vector<AddressLookup>& lookups, bool secure,
                            const PlanSettler& settle) {
    if (!secure || !plan.ok()) {
        settle(std::move(plan), ttl_s, {});
        return;
    }
    auto pending = std::make_shared<PendingDane>();
    pending->ttl_s = ttl_s;
    pending->settle = settle;
    for (const DeliveryTarget& target : plan.targets) {
        if (target.host_is_literal || pending->hosts.contains(target.host)) {
            continue;
        }
        auto address = std::find_if(lookups.begin(), lookups.end(),
                                    [&](const AddressLookup& l) { return l.host == target.host; });
        if (address == lookups.end() || !address->authenticated) {
            auto host = std::make_shared<DaneHost>();
            host->reason = "the addresses of " + target.host + " are not DNSSEC-validated";
            pending->hosts[target.host] = std::move(host);
            continue;
        }
        pending->hosts[target.host] = nullptr;  // filled by the lookup
        ++pending->outstanding;
        auto started = resolver_->resolver().lookup_tlsa(
            target.host, target.port, [pending, name = target.host](const TlsaLookup& lookup) {
                pending->hosts[name] = std::make_shared<DaneHost>(host_from(lookup));
                if (lookup.outcome == DnsOutcome::found) {
                    pending->ttl_s = std::min(pending->ttl_s, lookup.ttl_s);
                }
                if (--pending->outstanding == 0) {
                    pending->finish();
                }
            });
        if (!started) {
            --pending->outstanding;
            auto host = std::make_shared<DaneHost>();
            host->mode = DaneHost::Mode::failed;
            host->reason = started.error().message;
            pending->hosts[target.host] = std::move(host);
        }
    }
    resolver_->after_call();
    pending->plan = std::move(plan);
    if (pending->outstanding == 0) {
        pending->finish();
    }
}

std::optional<std::string> Delivery::dane_refusal(const Destination& destination,
                                                  const DeliveryTarget& target) const {
    auto found = destination.dane.find(target.host);
    const DaneHost* host = found == destination.dane.end() ? nullptr : found->second.get();
    if (host != nullptr && host->mode == DaneHost::Mode::failed) {
        return "DANE: " + host->reason + "; " + target.host + " is not tried";
    }
    config::TlsPolicy policy =
        destination.route != nullptr ? destination.route->tls : config_.delivery.tls;
    const bool demanded = policy == config::TlsPolicy::dane && dane_wanted(destination);
    if (demanded && (host == nullptr || host->mode == DaneHost::Mode::none)) {
        std::string why =
            host != nullptr ? host->reason : "no DNSSEC-validated TLSA records for " + target.host;
        return "DANE is required (tls = \"dane\") but " + why;
    }
    return std::nullopt;
}

void Delivery::apply_dane(const Destination& destination, const DeliveryTarget& target,
                          OutboundSettings& settings, config::TlsPolicy& policy) const {
    auto found = destination.dane.find(target.host);
    const DaneHost* host = found == destination.dane.end() ? nullptr : found->second.get();
    const bool usable = host != nullptr && (host->mode == DaneHost::Mode::encrypt ||
                                            host->mode == DaneHost::Mode::verify);
    if (!usable) {
        if (policy == config::TlsPolicy::dane) {
            // tls = "dane" where a [[shaping]] rule turned DANE off: as before DANE.
            policy = config::TlsPolicy::opportunistic;
            settings.client.try_starttls = true;
            settings.tls = &*tls_opportunistic_;
        }
        return;
    }
    policy = config::TlsPolicy::dane;
    settings.client.require_tls = true;
    settings.client.try_starttls = true;
    // The chain is judged by the TLSA records, not by a CA store.
    settings.tls = &*tls_dane_;
    settings.dane = DaneRequirement{host->records};
}

}  // namespace relay::delivery
