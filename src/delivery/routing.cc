// routing.cc -- a destination's route: static routes, MX lookups, A/AAAA lookups, the plan.
#include <algorithm>
#include <limits>
#include <memory>

#include "delivery_internal.h"
#include "relay/base/ascii.h"
#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/delivery/idna.h"
#include "relay/smtp/address.h"
#include "resolver_loop.h"

namespace relay::delivery {
namespace {

// The TTL of a plan that needed no DNS answer (an address literal): bounded by dns_ttl_s_max.
constexpr std::uint32_t no_dns_ttl_s = std::numeric_limits<std::uint32_t>::max();

}  // namespace

void Delivery::resolve(Destination& destination) {
    if (destination.resolving) {
        return;
    }
    // MTA-STS first (mta_sts.cc), so that the plan's hosts meet the policy in force.
    if (wants_mta_sts(destination)) {
        if (!destination.mta_sts_discovered) {
            discover_mta_sts(destination);
            return;
        }
    } else {
        destination.mta_sts.reset();
    }
    destination.mta_sts_discovered = false;  // the next plan looks again
    destination.resolving = true;
    MxPlanOptions options;
    options.hosts_max = config_.delivery.hosts_per_domain_max;
    options.port = config_.delivery.port;
    options.local_host_names = {ascii_lower(config_.server.hostname)};
    Destination* target = &destination;
    // Every plan reaches resolved() on a later turn, never from inside resolve():
    // kick -> resolve -> resolved -> kick would recurse.
    auto settle = [this, target](RoutePlan plan, std::uint32_t ttl_s, DaneHosts dane = {}) {
        reactor_.defer(
            [this, target, plan = std::move(plan), ttl_s, dane = std::move(dane)]() mutable {
                resolved(*target, std::move(plan), ttl_s, std::move(dane));
            });
    };
    const bool dane = dane_wanted(destination);

    // `ttl_s`: how long the answer that named the hosts may be kept (the MX answer's TTL).
    // `secure`: DANE applies and the host names are DNSSEC-validated (RFC 7672 §2.2.1).
    auto expand = [this, settle, options](HostPlan hosts, std::uint32_t ttl_s, bool secure) {
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
        auto finish = [this, settle, options, lookups, plan_hosts, ttl_s, secure] {
            // The plan is as old as its oldest answer.
            std::uint32_t plan_ttl_s = ttl_s;
            for (const AddressLookup& lookup : *lookups) {
                if (lookup.outcome == DnsOutcome::found) {
                    plan_ttl_s = std::min(plan_ttl_s, lookup.ttl_s);
                }
            }
            look_up_dane(plan_targets(*plan_hosts, *lookups, options, thread_random_source()),
                         plan_ttl_s, *lookups, secure, settle);
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
        const std::string& name = destination.route->endpoint.host;
        std::uint16_t port = destination.route->endpoint.port;
        options.port = port;
        if (auto literal = IpAddress::parse(
                name.size() > 2 && name.front() == '[' ? name.substr(1, name.size() - 2) : name)) {
            RoutePlan plan;
            plan.domain = destination.domain;
            plan.targets.push_back(DeliveryTarget{name, true, 0, *literal, port});
            settle(std::move(plan), no_dns_ttl_s);
            return;
        }
        HostPlan hosts;
        hosts.domain = destination.domain;
        hosts.hosts.push_back(PlannedHost{ascii_lower(name), 0, false, std::nullopt});
        expand(std::move(hosts), no_dns_ttl_s, dane);  // a configured name needs no DNSSEC
        return;
    }
    // DNS needs the A-label form of an internationalised domain (the envelope keeps UTF-8).
    std::string lookup = domain_to_ascii(destination.domain).value_or(destination.domain);
    if (auto literal = plan_hosts_without_dns(lookup)) {
        expand(std::move(*literal), no_dns_ttl_s, false);
        return;
    }
    auto started = resolver_->resolver().lookup_mx(
        lookup, [expand, lookup, options, dane](const MxLookup& mx) {
            // Without MX records (A/AAAA as the implicit MX), the address answers bound the plan.
            std::uint32_t ttl_s = mx.outcome == DnsOutcome::found ? mx.ttl_s : no_dns_ttl_s;
            expand(plan_hosts(lookup, mx, options, thread_random_source()), ttl_s,
                   dane && mx.authenticated);
        });
    resolver_->after_call();
    if (!started) {
        RoutePlan failed;
        failed.domain = destination.domain;
        failed.failure = RouteFailure{false, 451, "4.4.3", started.error().message};
        settle(std::move(failed), 0);
    }
}

void Delivery::resolved(Destination& destination, RoutePlan plan, std::uint32_t ttl_s,
                        DaneHosts dane) {
    destination.resolving = false;
    destination.dane = std::move(dane);
    if (!plan.ok()) {
        log::info("route to {}: {}", destination.domain, plan.failure->reason);
    }
    // A failed plan is used once (kick drops it); a working one is kept for the DNS answers'
    // TTL, within the operator's bounds.
    if (plan.ok()) {
        const config::Delivery& bounds = current().delivery;
        ttl_s = std::clamp(ttl_s, bounds.dns_ttl_s_min, bounds.dns_ttl_s_max);
    }
    destination.plan = std::move(plan);
    destination.plan_expires_ms = unix_ms_now() + std::uint64_t{ttl_s} * 1000;
    kick(destination);
}

}  // namespace relay::delivery
