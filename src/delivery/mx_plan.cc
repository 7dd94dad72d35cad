// mx_plan.cc -- MX host ordering and address expansion for delivery.
//
// Pure; any thread (the default random source is per thread). Untrusted bytes: recipient
// domains and DNS results; work is bounded by the number of records in one DNS answer and by
// hosts_max/addresses_max. RFC 5321 §5.1, §4.1.3; RFC 7505 §3-4; RFC 7504 §3; RFC 3463.
// Must never: look anything up, block, or let a malformed DNS result reach an assertion.
#include "relay/delivery/mx_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <unordered_set>
#include <utility>

#include "relay/base/ascii.h"
#include "relay/base/assert.h"

namespace relay::delivery {
namespace {

constexpr std::string_view null_mx_target = ".";

RouteFailure permanent_failure(int reply_code, std::string_view enhanced_status,
                               std::string reason) {
    return RouteFailure{true, reply_code, std::string(enhanced_status), std::move(reason)};
}

RouteFailure temporary_failure(std::string reason) {
    // RFC 3463 X.4.3: directory (DNS) server failure.
    return RouteFailure{false, 451, "4.4.3", std::move(reason)};
}

void assert_options(const MxPlanOptions& options) {
    RELAY_ASSERT(options.hosts_max >= 1 && options.hosts_max <= mx_hosts_max_max);
    RELAY_ASSERT(options.addresses_max >= 1 && options.addresses_max <= mx_addresses_max_max);
    RELAY_ASSERT(options.port != 0);
}

std::size_t draw(const RandomSource& random, std::size_t bound) {
    const std::size_t value = random(bound);
    RELAY_ASSERT(value < bound);
    return value;
}

// Fisher-Yates over [first, last).
template <class Iterator>
void shuffle_range(Iterator first, Iterator last, const RandomSource& random) {
    for (auto count = static_cast<std::size_t>(last - first); count > 1; --count) {
        std::iter_swap(first + static_cast<std::ptrdiff_t>(count - 1),
                       first + static_cast<std::ptrdiff_t>(draw(random, count)));
    }
}

// "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3). Other tags of the
// General-address-literal form name no address family we can deliver to.
std::optional<IpAddress> parse_address_literal(std::string_view literal) {
    if (literal.size() < 3 || literal.front() != '[' || literal.back() != ']') {
        return std::nullopt;
    }
    std::string_view inner = literal.substr(1, literal.size() - 2);
    constexpr std::string_view ipv6_tag = "IPv6:";
    const bool tagged_ipv6 = starts_with_ignoring_case(inner, ipv6_tag);
    if (tagged_ipv6) {
        inner.remove_prefix(ipv6_tag.size());
    }
    std::optional<IpAddress> address = IpAddress::parse(inner);
    if (!address || address->is_ipv4() == tagged_ipv6) {
        return std::nullopt;
    }
    return address;
}

std::string literal_text(const IpAddress& address) {
    return address.is_ipv4() ? fmt::format("[{}]", address.to_string())
                             : fmt::format("[IPv6:{}]", address.to_string());
}

HostPlan failed_plan(std::string domain, RouteFailure failure) {
    HostPlan plan;
    plan.domain = std::move(domain);
    plan.failure = std::move(failure);
    return plan;
}

// MX records, null targets removed, as planned hosts sorted by preference without duplicates.
std::vector<PlannedHost> sorted_unique_hosts(const std::vector<MxRecord>& records) {
    std::vector<PlannedHost> hosts;
    hosts.reserve(records.size());
    for (const MxRecord& record : records) {
        if (record.host.empty() || record.host == null_mx_target) {
            continue;
        }
        PlannedHost host;
        host.name = normalize_dns_name(record.host).value_or(record.host);
        host.preference = record.preference;
        hosts.push_back(std::move(host));
    }
    std::stable_sort(hosts.begin(), hosts.end(), [](const PlannedHost& a, const PlannedHost& b) {
        return a.preference < b.preference;
    });
    // After the sort the first occurrence of a name carries its lowest preference.
    std::unordered_set<std::string> seen;
    std::erase_if(hosts,
                  [&seen](const PlannedHost& host) { return !seen.insert(host.name).second; });
    return hosts;
}

// RFC 5321 §5.1: if this relay is itself an MX host, only more preferred hosts may be used.
void cut_at_local_host(std::vector<PlannedHost>& hosts, const MxPlanOptions& options) {
    const auto is_local = [&options](const PlannedHost& host) {
        return std::find(options.local_host_names.begin(), options.local_host_names.end(),
                         host.name) != options.local_host_names.end();
    };
    const auto local = std::find_if(hosts.begin(), hosts.end(), is_local);
    if (local == hosts.end()) {
        return;
    }
    const std::uint16_t cut_preference = local->preference;
    std::erase_if(hosts, [cut_preference](const PlannedHost& host) {
        return host.preference >= cut_preference;
    });
}

HostPlan plan_from_records(std::string domain, const std::vector<MxRecord>& records,
                           const MxPlanOptions& options, const RandomSource& random) {
    std::vector<PlannedHost> hosts = sorted_unique_hosts(records);
    if (hosts.empty()) {
        // RFC 7505 §3: a single MX "." (preference 0) says the domain accepts no mail; MX
        // records that all point to "." leave nothing to deliver to either, and RFC 5321's
        // implicit MX does not apply once MX records exist.
        std::string reason = fmt::format("domain {} does not accept mail (null MX)", domain);
        return failed_plan(std::move(domain), permanent_failure(556, "5.1.10", std::move(reason)));
    }
    cut_at_local_host(hosts, options);
    if (hosts.empty()) {
        std::string reason = fmt::format("mail for {} loops back to myself", domain);
        return failed_plan(std::move(domain), permanent_failure(554, "5.4.6", std::move(reason)));
    }
    for (auto group = hosts.begin(); group != hosts.end();) {
        const auto group_end = std::find_if(group, hosts.end(), [&group](const PlannedHost& host) {
            return host.preference != group->preference;
        });
        shuffle_range(group, group_end, random);
        group = group_end;
    }
    if (hosts.size() > options.hosts_max) {
        hosts.resize(options.hosts_max);
    }
    HostPlan plan;
    plan.domain = std::move(domain);
    plan.hosts = std::move(hosts);
    return plan;
}

const AddressLookup* find_lookup(std::span<const AddressLookup> lookups, std::string_view host) {
    for (const AddressLookup& lookup : lookups) {
        if (lookup.host == host) {
            return &lookup;
        }
    }
    return nullptr;
}

// The addresses of one host in the order to try, per the address preference.
std::vector<IpAddress> order_addresses(std::span<const IpAddress> addresses,
                                       AddressPreference preference, const RandomSource& random) {
    std::vector<IpAddress> ipv4;
    std::vector<IpAddress> ipv6;
    for (const IpAddress& address : addresses) {
        (address.is_ipv4() ? ipv4 : ipv6).push_back(address);
    }
    shuffle_range(ipv4.begin(), ipv4.end(), random);
    shuffle_range(ipv6.begin(), ipv6.end(), random);
    if (preference == AddressPreference::ipv4_only) {
        return ipv4;
    }
    std::vector<IpAddress>& first = preference == AddressPreference::ipv6_first ? ipv6 : ipv4;
    std::vector<IpAddress>& second = preference == AddressPreference::ipv6_first ? ipv4 : ipv6;
    first.insert(first.end(), second.begin(), second.end());
    return std::move(first);
}

bool already_planned(const std::vector<DeliveryTarget>& targets, const IpAddress& address) {
    return std::any_of(targets.begin(), targets.end(), [&address](const DeliveryTarget& target) {
        return target.address == address;
    });
}

struct HostAddresses {
    std::vector<IpAddress> addresses;
    std::string skipped_reason;  // set when addresses is empty
    bool temporary = false;      // the skip may go away on a later attempt
};

HostAddresses addresses_of(const PlannedHost& host, std::span<const AddressLookup> lookups,
                           const MxPlanOptions& options, const RandomSource& random) {
    HostAddresses result;
    std::vector<IpAddress> found;
    if (host.literal_address) {
        found.push_back(*host.literal_address);
    } else {
        const AddressLookup* lookup = find_lookup(lookups, host.name);
        RELAY_ASSERT(lookup != nullptr);  // the caller looks up every host that needs it
        if (lookup->outcome != DnsOutcome::found) {
            result.skipped_reason = lookup->reason;
            result.temporary = lookup->outcome == DnsOutcome::temporary_failure ||
                               lookup->outcome == DnsOutcome::malformed_answer;
            return result;
        }
        found = lookup->addresses;
    }
    result.addresses = order_addresses(found, options.address_preference, random);
    if (result.addresses.empty()) {
        result.skipped_reason =
            fmt::format("{} has no IPv4 address and IPv6 delivery is disabled", host.name);
    }
    return result;
}

RouteFailure no_target_failure(const RoutePlan& route, bool any_temporary) {
    RELAY_ASSERT(!route.skipped_hosts.empty());
    std::string reason = fmt::format("no mail exchanger of {} has a usable address ({}",
                                     route.domain, route.skipped_hosts.front());
    if (route.skipped_hosts.size() > 1) {
        reason += fmt::format("; {} more", route.skipped_hosts.size() - 1);
    }
    reason += ')';
    if (any_temporary) {
        return temporary_failure(std::move(reason));
    }
    // RFC 3463 X.4.4: unable to route.
    return permanent_failure(550, "5.4.4", std::move(reason));
}

}  // namespace

AddressFamilies address_families_for(AddressPreference preference) {
    return preference == AddressPreference::ipv4_only ? AddressFamilies::ipv4
                                                      : AddressFamilies::both;
}

RandomSource thread_random_source() {
    return [](std::size_t bound) {
        thread_local std::mt19937_64 generator{std::random_device{}()};
        return std::uniform_int_distribution<std::size_t>(0, bound - 1)(generator);
    };
}

std::string RouteFailure::reply_line() const {
    return fmt::format("{} {} {}", reply_code, enhanced_status, reason);
}

std::optional<HostPlan> plan_hosts_without_dns(std::string_view domain) {
    if (!domain.empty() && domain.front() == '[') {
        const std::optional<IpAddress> address = parse_address_literal(domain);
        if (!address) {
            std::string printable = printable_dns_name(domain);
            std::string reason = fmt::format("{} is not a usable address literal", printable);
            return failed_plan(std::move(printable),
                               permanent_failure(550, "5.1.2", std::move(reason)));
        }
        HostPlan plan;
        plan.domain = literal_text(*address);
        PlannedHost host;
        host.name = plan.domain;
        host.literal_address = address;
        plan.hosts.push_back(std::move(host));
        return plan;
    }
    if (!normalize_dns_name(domain)) {
        std::string printable = printable_dns_name(domain);
        std::string reason = fmt::format("{} is not a valid domain name", printable);
        return failed_plan(std::move(printable),
                           permanent_failure(550, "5.1.2", std::move(reason)));
    }
    return std::nullopt;
}

HostPlan plan_hosts(std::string_view domain, const MxLookup& mx, const MxPlanOptions& options,
                    const RandomSource& random) {
    assert_options(options);
    std::string name = normalize_dns_name(domain).value_or(printable_dns_name(domain));
    switch (mx.outcome) {
        case DnsOutcome::found:
            if (!mx.records.empty()) {
                return plan_from_records(std::move(name), mx.records, options, random);
            }
            [[fallthrough]];
        case DnsOutcome::no_data: {
            HostPlan plan;
            plan.domain = name;
            PlannedHost host;
            host.name = std::move(name);
            host.implicit_mx = true;
            plan.hosts.push_back(std::move(host));
            return plan;
        }
        case DnsOutcome::no_domain:
            // RFC 3463 X.1.2: the destination system does not exist.
            return failed_plan(std::move(name), permanent_failure(550, "5.1.2", mx.reason));
        case DnsOutcome::temporary_failure:
        case DnsOutcome::malformed_answer:
            return failed_plan(std::move(name), temporary_failure(mx.reason));
    }
    RELAY_ASSERT(false);
}

RoutePlan plan_targets(const HostPlan& hosts, std::span<const AddressLookup> lookups,
                       const MxPlanOptions& options, const RandomSource& random) {
    assert_options(options);
    RoutePlan route;
    route.domain = hosts.domain;
    if (!hosts.ok()) {
        route.failure = hosts.failure;
        return route;
    }
    bool any_temporary = false;
    for (const PlannedHost& host : hosts.hosts) {
        if (route.targets.size() >= options.addresses_max) {
            break;
        }
        HostAddresses found = addresses_of(host, lookups, options, random);
        if (found.addresses.empty()) {
            route.skipped_hosts.push_back(std::move(found.skipped_reason));
            any_temporary = any_temporary || found.temporary;
            continue;
        }
        for (const IpAddress& address : found.addresses) {
            if (route.targets.size() >= options.addresses_max) {
                break;
            }
            if (already_planned(route.targets, address)) {
                continue;
            }
            route.targets.push_back(DeliveryTarget{host.name, host.literal_address.has_value(),
                                                   host.preference, address, options.port});
        }
    }
    if (route.targets.empty()) {
        route.failure = no_target_failure(route, any_temporary);
    }
    return route;
}

}  // namespace relay::delivery
