// dane_policy.cc -- DANE for SMTP (RFC 7672) in the scheduler: which destinations look up TLSA
// records, what each host's answer demands, and the connection settings that follow.
//
// Thread: one worker. Trust: the AD bit of the configured resolvers, believed only under
// [delivery] dane = true (the operator's statement that they validate DNSSEC and that the path
// to them is safe, as Postfix's smtp_dns_support_level = dnssec). The chain of trust, RFC 7672
// §2.2: the MX answer must be validated (else no DANE for the domain), then each MX host's
// address answers (else no DANE for the host), then its TLSA answer (§2.2.3: validated and
// non-empty means DANE; a denial or an insecure answer means none; a failed lookup means the
// host is not used at all, for an attacker could cause it). What follows for the connection is
// decided with the other TLS policies in decide_tls (tls_policy.h), where DANE comes first.
#include <algorithm>
#include <memory>

#include "delivery_internal.h"
#include "relay/base/log.h"
#include "resolver_loop.h"

namespace relay::delivery {
namespace {

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
            host.published = lookup.records;
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
    const config::Shaping* chosen = shaping_rule(destination);
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

// What the host's TLSA lookup says, for decide_tls (tls_policy.h), which puts DANE first.
DaneInput Delivery::dane_input(const Destination& destination, const DeliveryTarget& target) const {
    DaneInput input;
    input.host = target.host;
    if (!dane_wanted(destination)) {
        return input;
    }
    input.state = DaneState::none;
    auto found = destination.dane.find(target.host);
    const DaneHost* host = found == destination.dane.end() ? nullptr : found->second.get();
    if (host == nullptr) {
        return input;
    }
    input.reason = host->reason;
    switch (host->mode) {
        case DaneHost::Mode::none:
            input.state = DaneState::none;
            break;
        case DaneHost::Mode::encrypt:
            input.state = DaneState::encrypt;
            break;
        case DaneHost::Mode::verify:
            input.state = DaneState::verify;
            break;
        case DaneHost::Mode::failed:
            input.state = DaneState::failed;
            break;
    }
    return input;
}

// A connection under AppliedTls::dane: TLS is mandatory and never falls back to plaintext, and
// the chain is judged by the TLSA records, not by a CA store.
void Delivery::apply_dane(const Destination& destination, const DeliveryTarget& target,
                          OutboundSettings& settings) const {
    auto found = destination.dane.find(target.host);
    const DaneHost* host = found == destination.dane.end() ? nullptr : found->second.get();
    RELAY_ASSERT(host != nullptr);
    settings.client.require_tls = true;
    settings.client.try_starttls = true;
    settings.tls = &*tls_dane_;
    settings.dane = DaneRequirement{host->records};
}

}  // namespace relay::delivery
