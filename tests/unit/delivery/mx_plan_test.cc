// mx_plan_test.cc -- the MX planner's rules (RFC 5321 §5.1, RFC 7505), one test per rule, and
// the DNS name and address helpers it relies on.
#include "relay/delivery/mx_plan.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <set>

namespace relay::delivery {
namespace {

MxLookup found(std::vector<MxRecord> records) {
    MxLookup lookup;
    lookup.domain = "example.com";
    lookup.outcome = DnsOutcome::found;
    lookup.reason = "DNS lookup of MX for example.com: records";
    lookup.records = std::move(records);
    return lookup;
}

MxLookup failed(DnsOutcome outcome, std::string reason) {
    MxLookup lookup;
    lookup.domain = "example.com";
    lookup.outcome = outcome;
    lookup.reason = std::move(reason);
    return lookup;
}

IpAddress ip(std::string_view text) {
    return IpAddress::parse(text).value();
}

AddressLookup resolved(std::string host, const std::vector<std::string_view>& addresses) {
    AddressLookup lookup;
    lookup.host = std::move(host);
    lookup.outcome = DnsOutcome::found;
    for (std::string_view text : addresses) {
        lookup.addresses.push_back(ip(text));
    }
    return lookup;
}

AddressLookup unresolved(std::string host, DnsOutcome outcome) {
    AddressLookup lookup;
    lookup.host = std::move(host);
    lookup.outcome = outcome;
    lookup.reason =
        "DNS lookup of A/AAAA for " + lookup.host + ": " + std::string(outcome_name(outcome));
    return lookup;
}

std::vector<std::string> names(const HostPlan& plan) {
    std::vector<std::string> result;
    for (const PlannedHost& host : plan.hosts) {
        result.push_back(host.name);
    }
    return result;
}

std::vector<std::string> addresses(const RoutePlan& route) {
    std::vector<std::string> result;
    for (const DeliveryTarget& target : route.targets) {
        result.push_back(target.address.to_string());
    }
    return result;
}

// Draws that always take the same end of the range: two fixed, different shuffles.
std::size_t lowest(std::size_t) {
    return 0;
}
std::size_t highest(std::size_t bound) {
    return bound - 1;
}

const MxPlanOptions defaults;
const RandomSource no_shuffle = highest;

TEST(MxPlanTest, HostsOrderedByPreference) {
    const HostPlan plan =
        plan_hosts("example.com", found({{30, "c.example"}, {10, "a.example"}, {20, "b.example"}}),
                   defaults, no_shuffle);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(names(plan), (std::vector<std::string>{"a.example", "b.example", "c.example"}));
    EXPECT_EQ(plan.hosts[0].preference, 10);
    EXPECT_FALSE(plan.hosts[0].implicit_mx);
    EXPECT_TRUE(plan.hosts[0].needs_address_lookup());
}

TEST(MxPlanTest, EqualPreferencesShuffledByTheInjectedSource) {
    const MxLookup mx = found({{10, "a.example"},
                               {10, "b.example"},
                               {10, "c.example"},
                               {5, "first.example"},
                               {20, "last.example"}});
    const HostPlan low = plan_hosts("example.com", mx, defaults, lowest);
    const HostPlan high = plan_hosts("example.com", mx, defaults, highest);
    // The same source gives the same order; different sources give different orders.
    EXPECT_EQ(names(low), names(plan_hosts("example.com", mx, defaults, lowest)));
    EXPECT_NE(names(low), names(high));
    for (const HostPlan* plan : {&low, &high}) {
        ASSERT_EQ(plan->hosts.size(), 5u);
        EXPECT_EQ(plan->hosts.front().name, "first.example");
        EXPECT_EQ(plan->hosts.back().name, "last.example");
        const std::set<std::string> middle = {plan->hosts[1].name, plan->hosts[2].name,
                                              plan->hosts[3].name};
        EXPECT_EQ(middle, (std::set<std::string>{"a.example", "b.example", "c.example"}));
    }
}

TEST(MxPlanTest, EqualPreferencesReachEveryOrder) {
    const MxLookup mx = found({{10, "a.example"}, {10, "b.example"}, {10, "c.example"}});
    const RandomSource random = thread_random_source();
    std::set<std::vector<std::string>> orders;
    // 6 orders; missing one in 600 fair draws has probability below 1e-40.
    for (int i = 0; i < 600; ++i) {
        orders.insert(names(plan_hosts("example.com", mx, defaults, random)));
    }
    EXPECT_EQ(orders.size(), 6u);
}

TEST(MxPlanTest, NoMxRecordsMeansImplicitMx) {
    for (const MxLookup& mx : {failed(DnsOutcome::no_data, "no MX records"), found({})}) {
        const HostPlan plan = plan_hosts("Example.COM.", mx, defaults, no_shuffle);
        ASSERT_TRUE(plan.ok());
        ASSERT_EQ(plan.hosts.size(), 1u);
        EXPECT_EQ(plan.hosts[0].name, "example.com");
        EXPECT_EQ(plan.hosts[0].preference, 0);
        EXPECT_TRUE(plan.hosts[0].implicit_mx);
        EXPECT_TRUE(plan.hosts[0].needs_address_lookup());
    }
}

TEST(MxPlanTest, NullMxIsAPermanentFailure) {
    const HostPlan plan = plan_hosts("example.com", found({{0, "."}}), defaults, no_shuffle);
    ASSERT_FALSE(plan.ok());
    EXPECT_TRUE(plan.hosts.empty());
    EXPECT_TRUE(plan.failure->permanent);
    EXPECT_EQ(plan.failure->reply_line(),
              "556 5.1.10 domain example.com does not accept mail (null MX)");
    // Only root targets, whatever their preference, leave nothing to deliver to either.
    const HostPlan roots =
        plan_hosts("example.com", found({{10, "."}, {20, "."}}), defaults, no_shuffle);
    ASSERT_FALSE(roots.ok());
    EXPECT_EQ(roots.failure->enhanced_status, "5.1.10");
}

TEST(MxPlanTest, RootTargetsAmongOthersAreDropped) {
    const HostPlan plan = plan_hosts("example.com", found({{0, "."}, {10, "mx.example"}, {5, ""}}),
                                     defaults, no_shuffle);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(names(plan), std::vector<std::string>{"mx.example"});
}

TEST(MxPlanTest, DuplicatesKeepTheirBestPreference) {
    const HostPlan plan = plan_hosts("example.com",
                                     found({{20, "MX.Example.com."},
                                            {10, "mx.example.com"},
                                            {5, "other.example"},
                                            {30, "other.example"}}),
                                     defaults, no_shuffle);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(names(plan), (std::vector<std::string>{"other.example", "mx.example.com"}));
    EXPECT_EQ(plan.hosts[1].preference, 10);
}

TEST(MxPlanTest, HostCountIsBounded) {
    std::vector<MxRecord> records;
    for (std::uint16_t i = 0; i < 15; ++i) {
        records.push_back({static_cast<std::uint16_t>(100 - i), "mx" + std::to_string(i) + ".ex"});
    }
    const HostPlan plan = plan_hosts("example.com", found(records), defaults, no_shuffle);
    EXPECT_EQ(plan.hosts.size(), 10u);  // the default
    MxPlanOptions options;
    options.hosts_max = 3;
    const HostPlan three = plan_hosts("example.com", found(records), options, no_shuffle);
    EXPECT_EQ(names(three), (std::vector<std::string>{"mx14.ex", "mx13.ex", "mx12.ex"}));
}

TEST(MxPlanTest, LocalHostCutsTheList) {
    MxPlanOptions options;
    options.local_host_names = {"relay.example"};
    const HostPlan plan = plan_hosts("example.com",
                                     found({{10, "better.example"},
                                            {20, "relay.example"},
                                            {20, "peer.example"},
                                            {30, "worse.example"}}),
                                     options, no_shuffle);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(names(plan), std::vector<std::string>{"better.example"});

    const HostPlan loop = plan_hosts(
        "example.com", found({{10, "relay.example"}, {20, "backup.example"}}), options, no_shuffle);
    ASSERT_FALSE(loop.ok());
    EXPECT_TRUE(loop.failure->permanent);
    EXPECT_EQ(loop.failure->reply_line(), "554 5.4.6 mail for example.com loops back to myself");
}

TEST(MxPlanTest, DnsFailuresMapToPermanentOrTemporary) {
    const HostPlan nxdomain = plan_hosts(
        "example.com", failed(DnsOutcome::no_domain, "DNS lookup of MX for example.com: NX"),
        defaults, no_shuffle);
    ASSERT_FALSE(nxdomain.ok());
    EXPECT_TRUE(nxdomain.failure->permanent);
    EXPECT_EQ(nxdomain.failure->reply_line(), "550 5.1.2 DNS lookup of MX for example.com: NX");

    for (DnsOutcome outcome : {DnsOutcome::temporary_failure, DnsOutcome::malformed_answer}) {
        const HostPlan plan =
            plan_hosts("example.com", failed(outcome, "timed out"), defaults, no_shuffle);
        ASSERT_FALSE(plan.ok());
        EXPECT_FALSE(plan.failure->permanent);
        EXPECT_EQ(plan.failure->reply_line(), "451 4.4.3 timed out");
    }
}

TEST(MxPlanTest, FailedHostPlanPassesThroughTargets) {
    const HostPlan plan = plan_hosts("example.com", found({{0, "."}}), defaults, no_shuffle);
    const RoutePlan route = plan_targets(plan, {}, defaults, no_shuffle);
    ASSERT_FALSE(route.ok());
    EXPECT_EQ(route.failure->enhanced_status, "5.1.10");
}

TEST(MxPlanTest, Ipv4AddressLiteralNeedsNoDns) {
    const std::optional<HostPlan> plan = plan_hosts_without_dns("[192.0.2.1]");
    ASSERT_TRUE(plan.has_value());
    ASSERT_TRUE(plan->ok());
    ASSERT_EQ(plan->hosts.size(), 1u);
    EXPECT_FALSE(plan->hosts[0].needs_address_lookup());
    const RoutePlan route = plan_targets(*plan, {}, defaults, no_shuffle);
    ASSERT_TRUE(route.ok());
    ASSERT_EQ(route.targets.size(), 1u);
    EXPECT_EQ(route.targets[0].address, ip("192.0.2.1"));
    EXPECT_EQ(route.targets[0].port, 25);
    EXPECT_EQ(route.targets[0].host, "[192.0.2.1]");
    EXPECT_TRUE(route.targets[0].host_is_literal);
    EXPECT_EQ(route.targets[0].tls_server_name(), "");  // no SNI for literals
}

TEST(MxPlanTest, Ipv6AddressLiteral) {
    for (std::string_view literal : {"[IPv6:2001:db8::1]", "[ipv6:2001:DB8:0::1]"}) {
        const std::optional<HostPlan> plan = plan_hosts_without_dns(literal);
        ASSERT_TRUE(plan.has_value() && plan->ok()) << literal;
        EXPECT_EQ(plan->hosts[0].name, "[IPv6:2001:db8::1]");
        EXPECT_EQ(plan->hosts[0].literal_address, ip("2001:db8::1"));
    }
    MxPlanOptions ipv4_only;
    ipv4_only.address_preference = AddressPreference::ipv4_only;
    const RoutePlan route =
        plan_targets(*plan_hosts_without_dns("[IPv6:2001:db8::1]"), {}, ipv4_only, no_shuffle);
    ASSERT_FALSE(route.ok());
    EXPECT_TRUE(route.failure->permanent);
    EXPECT_EQ(route.failure->enhanced_status, "5.4.4");
}

TEST(MxPlanTest, BadLiteralsAndNamesFailWithoutDns) {
    for (std::string_view domain :
         {"[300.1.1.1]", "[2001:db8::1]", "[IPv6:192.0.2.1]", "[x-tag:abc]", "[192.0.2.1", "[]",
          "exa mple.com", "", "a..b", "caf\xc3\xa9.example"}) {
        const std::optional<HostPlan> plan = plan_hosts_without_dns(domain);
        ASSERT_TRUE(plan.has_value()) << domain;
        ASSERT_FALSE(plan->ok()) << domain;
        EXPECT_TRUE(plan->failure->permanent);
        EXPECT_EQ(plan->failure->enhanced_status, "5.1.2");
    }
    EXPECT_FALSE(plan_hosts_without_dns("example.com").has_value());
    EXPECT_FALSE(plan_hosts_without_dns("Mail.Example.COM.").has_value());
}

TEST(MxPlanTest, AddressPreferenceOrdersFamilies) {
    const HostPlan plan =
        plan_hosts("example.com", found({{10, "mx.example"}}), defaults, no_shuffle);
    const std::vector<AddressLookup> lookups = {
        resolved("mx.example", {"192.0.2.1", "2001:db8::1", "192.0.2.2"})};
    MxPlanOptions options;
    options.address_preference = AddressPreference::ipv4_first;
    EXPECT_EQ(addresses(plan_targets(plan, lookups, options, no_shuffle)),
              (std::vector<std::string>{"192.0.2.1", "192.0.2.2", "2001:db8::1"}));
    options.address_preference = AddressPreference::ipv6_first;
    EXPECT_EQ(addresses(plan_targets(plan, lookups, options, no_shuffle)),
              (std::vector<std::string>{"2001:db8::1", "192.0.2.1", "192.0.2.2"}));
    options.address_preference = AddressPreference::ipv4_only;
    EXPECT_EQ(addresses(plan_targets(plan, lookups, options, no_shuffle)),
              (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
    EXPECT_EQ(address_families_for(AddressPreference::ipv4_only), AddressFamilies::ipv4);
    EXPECT_EQ(address_families_for(AddressPreference::ipv6_first), AddressFamilies::both);
    EXPECT_EQ(address_families_for(AddressPreference::ipv4_first), AddressFamilies::both);
}

TEST(MxPlanTest, AddressesOfAHostAreShuffledWithinTheirFamily) {
    const HostPlan plan =
        plan_hosts("example.com", found({{10, "mx.example"}}), defaults, no_shuffle);
    const std::vector<AddressLookup> lookups = {
        resolved("mx.example", {"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1"})};
    const std::vector<std::string> low = addresses(plan_targets(plan, lookups, defaults, lowest));
    const std::vector<std::string> high = addresses(plan_targets(plan, lookups, defaults, highest));
    EXPECT_NE(low, high);
    for (const std::vector<std::string>* order : {&low, &high}) {
        ASSERT_EQ(order->size(), 4u);
        EXPECT_EQ(order->back(), "2001:db8::1");
    }
}

TEST(MxPlanTest, TargetsCarryHostPortAndPreference) {
    MxPlanOptions options;
    options.port = 2525;
    const HostPlan plan = plan_hosts("example.com", found({{10, "a.example"}, {20, "b.example"}}),
                                     options, no_shuffle);
    const std::vector<AddressLookup> lookups = {resolved("b.example", {"192.0.2.2"}),
                                                resolved("a.example", {"192.0.2.1"})};
    const RoutePlan route = plan_targets(plan, lookups, options, no_shuffle);
    ASSERT_EQ(route.targets.size(), 2u);
    EXPECT_EQ(route.domain, "example.com");
    EXPECT_EQ(route.targets[0].host, "a.example");
    EXPECT_EQ(route.targets[0].tls_server_name(), "a.example");
    EXPECT_FALSE(route.targets[0].host_is_literal);
    EXPECT_EQ(route.targets[0].preference, 10);
    EXPECT_EQ(route.targets[0].port, 2525);
    EXPECT_EQ(route.targets[1].host, "b.example");
    EXPECT_EQ(route.targets[1].address.to_socket_address(2525).length, sizeof(sockaddr_in));
}

TEST(MxPlanTest, SharedAddressIsTriedOnce) {
    const HostPlan plan = plan_hosts("example.com", found({{10, "a.example"}, {20, "b.example"}}),
                                     defaults, no_shuffle);
    const std::vector<AddressLookup> lookups = {resolved("a.example", {"192.0.2.1"}),
                                                resolved("b.example", {"192.0.2.1", "192.0.2.2"})};
    const RoutePlan route = plan_targets(plan, lookups, defaults, no_shuffle);
    EXPECT_EQ(addresses(route), (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
    EXPECT_EQ(route.targets[0].host, "a.example");
}

TEST(MxPlanTest, AddressCountIsBounded) {
    MxPlanOptions options;
    options.addresses_max = 3;
    const HostPlan plan = plan_hosts("example.com", found({{10, "a.example"}, {20, "b.example"}}),
                                     options, no_shuffle);
    const std::vector<AddressLookup> lookups = {resolved("a.example", {"192.0.2.1", "192.0.2.2"}),
                                                resolved("b.example", {"192.0.2.3", "192.0.2.4"})};
    const RoutePlan route = plan_targets(plan, lookups, options, no_shuffle);
    EXPECT_EQ(route.targets.size(), 3u);
    EXPECT_EQ(route.targets[2].host, "b.example");
}

TEST(MxPlanTest, HostsWithoutAddressesAreSkipped) {
    const HostPlan plan =
        plan_hosts("example.com", found({{10, "a.example"}, {20, "b.example"}, {30, "c.example"}}),
                   defaults, no_shuffle);
    const std::vector<AddressLookup> lookups = {
        unresolved("a.example", DnsOutcome::temporary_failure),
        unresolved("b.example", DnsOutcome::no_domain), resolved("c.example", {"192.0.2.3"})};
    const RoutePlan route = plan_targets(plan, lookups, defaults, no_shuffle);
    ASSERT_TRUE(route.ok());
    EXPECT_EQ(addresses(route), std::vector<std::string>{"192.0.2.3"});
    EXPECT_EQ(route.skipped_hosts,
              (std::vector<std::string>{"DNS lookup of A/AAAA for a.example: temporary_failure",
                                        "DNS lookup of A/AAAA for b.example: no_domain"}));
}

TEST(MxPlanTest, NoAddressAnywhereIsTemporaryIfAnyLookupMayRecover) {
    const HostPlan plan = plan_hosts("example.com", found({{10, "a.example"}, {20, "b.example"}}),
                                     defaults, no_shuffle);
    const RoutePlan temporary = plan_targets(
        plan,
        std::vector<AddressLookup>{unresolved("a.example", DnsOutcome::no_domain),
                                   unresolved("b.example", DnsOutcome::malformed_answer)},
        defaults, no_shuffle);
    ASSERT_FALSE(temporary.ok());
    EXPECT_FALSE(temporary.failure->permanent);
    EXPECT_EQ(temporary.failure->reply_code, 451);
    EXPECT_EQ(temporary.failure->enhanced_status, "4.4.3");

    const RoutePlan permanent =
        plan_targets(plan,
                     std::vector<AddressLookup>{unresolved("a.example", DnsOutcome::no_domain),
                                                unresolved("b.example", DnsOutcome::no_data)},
                     defaults, no_shuffle);
    ASSERT_FALSE(permanent.ok());
    EXPECT_TRUE(permanent.failure->permanent);
    EXPECT_EQ(permanent.failure->reply_line(),
              "550 5.4.4 no mail exchanger of example.com has a usable address (DNS lookup of "
              "A/AAAA for a.example: no_domain; 1 more)");
}

TEST(MxPlanTest, Ipv4OnlySkipsHostsWithOnlyIpv6) {
    MxPlanOptions options;
    options.address_preference = AddressPreference::ipv4_only;
    const HostPlan plan =
        plan_hosts("example.com", found({{10, "a.example"}}), options, no_shuffle);
    const RoutePlan route =
        plan_targets(plan, std::vector<AddressLookup>{resolved("a.example", {"2001:db8::1"})},
                     options, no_shuffle);
    ASSERT_FALSE(route.ok());
    EXPECT_TRUE(route.failure->permanent);
    EXPECT_EQ(
        route.skipped_hosts,
        std::vector<std::string>{"a.example has no IPv4 address and IPv6 delivery is disabled"});
}

TEST(DnsNameTest, Normalization) {
    EXPECT_EQ(normalize_dns_name("Mail.Example.COM."), "mail.example.com");
    EXPECT_EQ(normalize_dns_name("_dmarc.x-y.example"), "_dmarc.x-y.example");
    EXPECT_EQ(normalize_dns_name(std::string(63, 'a') + ".example"),
              std::string(63, 'a') + ".example");
    EXPECT_FALSE(normalize_dns_name(std::string(64, 'a') + ".example"));
    std::string long_name;
    while (long_name.size() < 254) {
        long_name += "abcdefghi.";
    }
    EXPECT_FALSE(normalize_dns_name(long_name.substr(0, 254)));
    for (std::string_view bad : {"", ".", "a..b", ".a", "a b", "a\\032b", "a\nb", "caf\xc3\xa9"}) {
        EXPECT_FALSE(normalize_dns_name(bad)) << bad;
    }
    EXPECT_EQ(printable_dns_name("a\nb\x01"), "a?b?");
    EXPECT_EQ(printable_dns_name(std::string(300, 'x')), std::string(253, 'x') + "...");
}

TEST(IpAddressTest, ParseAndFormat) {
    const IpAddress ipv4 = ip("192.0.2.1");
    EXPECT_TRUE(ipv4.is_ipv4());
    EXPECT_EQ(ipv4.bytes().size(), 4u);
    EXPECT_EQ(ipv4.to_string(), "192.0.2.1");
    const IpAddress ipv6 = ip("2001:DB8:0:0::1");
    EXPECT_EQ(ipv6.family(), IpAddress::Family::ipv6);
    EXPECT_EQ(ipv6.to_string(), "2001:db8::1");
    EXPECT_NE(ip("::ffff:192.0.2.1"), ipv4);  // a mapped address is an IPv6 address
    for (std::string_view bad :
         {"", "192.0.2", "192.0.2.256", "1.2.3.4.5", "example.com", "2001:db8::1%eth0", "::1 "}) {
        EXPECT_FALSE(IpAddress::parse(bad)) << bad;
    }
    const SocketAddress socket_address = ipv6.to_socket_address(25);
    ASSERT_EQ(socket_address.length, sizeof(sockaddr_in6));
    const auto* raw = reinterpret_cast<const sockaddr_in6*>(socket_address.get());
    EXPECT_EQ(raw->sin6_family, AF_INET6);
    EXPECT_EQ(ntohs(raw->sin6_port), 25);
}

}  // namespace
}  // namespace relay::delivery
