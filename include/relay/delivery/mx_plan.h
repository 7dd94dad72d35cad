// mx_plan.h -- where to deliver mail for a recipient domain: from the domain and its DNS results
// to an ordered list of (host, address, port) targets. No DNS here: the scheduler runs the
// lookups (resolver.h) and feeds their results in.
//
// Pure functions of their inputs (randomness is injected); any thread. Untrusted bytes: the
// recipient domain (address literals are parsed here) and the DNS results, bounded by
// hosts_max and addresses_max. RFC 5321 §5.1 (MX ordering, implicit MX, "loops back to
// myself"), §4.1.3 and §2.3.4 (address literals), RFC 7505 (null MX), RFC 7504 (556),
// RFC 3463 (enhanced status codes).
//
// How the scheduler walks it:
//
//   if (auto plan = plan_hosts_without_dns(domain, options)) -> literal or invalid: use *plan
//   else resolver.lookup_mx(domain) -> plan_hosts(domain, mx, options, random)
//   for each host with needs_address_lookup(): resolver.lookup_addresses(host.name,
//       address_families_for(options.address_preference))
//   plan_targets(host_plan, address_lookups, options, random) -> targets to try in order,
//       or the failure that ends (permanent) or defers (temporary) the attempt.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/delivery/resolver_types.h"

namespace relay::delivery {

enum class AddressPreference : std::uint8_t { ipv6_first, ipv4_first, ipv4_only };

// The families to look up for a preference: ipv4_only needs no AAAA queries.
AddressFamilies address_families_for(AddressPreference preference);

inline constexpr std::size_t mx_hosts_max_max = 100;
inline constexpr std::size_t mx_addresses_max_max = 1000;

// Bounds are the configuration's to enforce; the planner asserts them.
struct MxPlanOptions {
    // MX hosts kept per delivery attempt (after ordering), 1..100.
    std::size_t hosts_max = 10;
    // Addresses tried per delivery attempt, over all hosts, 1..1000.
    std::size_t addresses_max = 20;
    std::uint16_t port = 25;
    // IPv4 first by default: large receivers hold mail from IPv6 senders to stricter rules
    // (reverse DNS, authentication), so IPv4 is the conservative order for a shared relay.
    AddressPreference address_preference = AddressPreference::ipv4_first;
    // Names under which this relay itself receives mail (normalised, e.g. "mx.relay.example").
    // An MX host among them cuts the list at its preference (RFC 5321 §5.1).
    std::vector<std::string> local_host_names;
};

// Returns a value uniformly drawn from [0, bound), bound >= 1.
using RandomSource = std::function<std::size_t(std::size_t bound)>;
// A per-thread generator seeded from the system; what production uses.
RandomSource thread_random_source();

// Why there is nothing to try. `reply_code` and `enhanced_status` are what a DSN or a log line
// reports (e.g. 556 5.1.10 for a null MX); `permanent` says whether retrying can help.
struct RouteFailure {
    bool permanent = false;
    int reply_code = 451;
    std::string enhanced_status;  // "5.1.10"
    std::string reason;           // one line, no CRLF

    // "556 5.1.10 domain example.com does not accept mail (null MX)"
    std::string reply_line() const;
};

struct PlannedHost {
    // Normalised MX host name; for an address literal, the literal as written ("[192.0.2.1]").
    std::string name;
    std::uint16_t preference = 0;
    bool implicit_mx = false;  // no MX records: the domain itself (RFC 5321 §5.1)
    std::optional<IpAddress> literal_address;

    bool needs_address_lookup() const { return !literal_address.has_value(); }
};

struct HostPlan {
    std::string domain;              // normalised, or the literal as written
    std::vector<PlannedHost> hosts;  // in the order to try; empty iff failure is set
    std::optional<RouteFailure> failure;

    bool ok() const { return !failure.has_value(); }
};

struct DeliveryTarget {
    std::string host;              // for logs, and for TLS SNI unless host_is_literal
    bool host_is_literal = false;  // no SNI for address literals (RFC 6066 §3)
    std::uint16_t preference = 0;
    IpAddress address;
    std::uint16_t port = 25;

    std::string_view tls_server_name() const {
        return host_is_literal ? std::string_view() : std::string_view(host);
    }
};

struct RoutePlan {
    std::string domain;
    std::vector<DeliveryTarget> targets;  // in the order to try; empty iff failure is set
    // One line per host that contributed nothing (no address, lookup failed), in host order.
    std::vector<std::string> skipped_hosts;
    std::optional<RouteFailure> failure;

    bool ok() const { return !failure.has_value(); }
};

// The plan for a domain that needs no MX lookup: an address literal ("[192.0.2.1]",
// "[IPv6:2001:db8::1]", RFC 5321 §4.1.3) or an invalid domain (a permanent failure). nullopt:
// the domain is a valid name; look up its MX records and call plan_hosts().
std::optional<HostPlan> plan_hosts_without_dns(std::string_view domain);

// Orders the MX hosts of `domain` from its MX lookup:
//   * by preference, ties in random order (RFC 5321 §5.1), duplicates removed (the lowest
//     preference wins), at most hosts_max;
//   * MX records pointing to "." are dropped; if nothing else is left, the domain accepts no
//     mail (RFC 7505 null MX): permanent, 556 5.1.10;
//   * a local host name among them removes it and every host of equal or higher preference; if
//     nothing is left, permanent 554 5.4.6 (mail loops back to this relay);
//   * no MX records for an existing name: the domain itself, implicit MX;
//   * the domain does not exist: permanent 550 5.1.2; a temporary or malformed answer:
//     temporary 451 4.4.3.
HostPlan plan_hosts(std::string_view domain, const MxLookup& mx, const MxPlanOptions& options,
                    const RandomSource& random);

// Expands the hosts to addresses, in host order, each host's addresses ordered by the address
// preference (ties shuffled), an address already planned for an earlier host skipped, at most
// addresses_max. `lookups` holds the address lookup of each host that needs one, matched by
// name (asserted present). No target at all: temporary 451 4.4.3 if any lookup failed
// temporarily, else permanent 550 5.4.4 (no host has a usable address).
RoutePlan plan_targets(const HostPlan& hosts, std::span<const AddressLookup> lookups,
                       const MxPlanOptions& options, const RandomSource& random);

}  // namespace relay::delivery
