// resolver_test.cc -- the resolver against a real DNS server (dnsmasq on loopback), driven by a
// poll(2) loop through the FdWatcher seam: answers, failure kinds, timeouts, concurrency, the
// queue bound, cancellation, and the end-to-end route for a domain (resolver + MX planner).
#include "relay/delivery/resolver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>

#include "dns_test_support.h"
#include "relay/delivery/mx_plan.h"

namespace relay::delivery {
namespace {

using testing::Dnsmasq;
using testing::PollLoop;
using testing::ScriptedDnsServer;
using testing::SilentUdpServer;

constexpr int many_hosts = 200;
// MX records of big.test: about 1.8 KB of answer, more than a UDP answer may carry here.
constexpr int big_mx_records = 40;

std::string many_host_name(int index) {
    return "h" + std::to_string(index) + ".test";
}
std::string many_host_address(int index) {
    return "10.0." + std::to_string(index / 256) + "." + std::to_string(index % 256);
}

std::vector<std::string> zone() {
    std::vector<std::string> records = {
        "--mx-host=multi.test,mx1.multi.test,10",
        "--mx-host=multi.test,mx2.multi.test,20",
        "--mx-host=multi.test,mx3.multi.test,20",
        "--host-record=mx1.multi.test,192.0.2.11",
        "--host-record=mx2.multi.test,192.0.2.12,2001:db8::12",
        // mx3.multi.test has no records at all: NXDOMAIN under --local=/test/.
        "--host-record=plain.test,192.0.2.7,2001:db8::7",
        "--host-record=v4only.test,192.0.2.8",
        "--mx-host=null.test,.,0",
        // Two TXT records, the second of two character-strings (RFC 1035 §3.3.14).
        "--txt-record=_mta-sts.multi.test,v=STSv1; id=20261201",
        "--txt-record=_mta-sts.multi.test,v=spf1 ,-all",
    };
    for (int i = 0; i < many_hosts; ++i) {
        records.push_back("--host-record=" + many_host_name(i) + "," + many_host_address(i));
    }
    for (int i = 0; i < big_mx_records; ++i) {
        records.push_back("--mx-host=big.test,mail-exchanger-with-a-long-name-" +
                          std::to_string(i) + ".big.test," + std::to_string(i));
    }
    return records;
}

std::set<std::string> address_texts(const std::vector<IpAddress>& addresses) {
    std::set<std::string> texts;
    for (const IpAddress& address : addresses) {
        texts.insert(address.to_string());
    }
    return texts;
}

class ResolverTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { dnsmasq_ = new Dnsmasq(zone()); }
    static void TearDownTestSuite() {
        delete dnsmasq_;
        dnsmasq_ = nullptr;
    }

    void SetUp() override {
        ASSERT_TRUE(dnsmasq_->running()) << dnsmasq_->failure();
        ResolverOptions options;
        options.servers = {dnsmasq_->server()};
        options.timeout_ms = 1000;
        options.tries = 2;
        start(options);
    }

    void start(const ResolverOptions& options) {
        resolver_.reset();
        Result<Resolver> created = Resolver::create(options, loop_);
        ASSERT_TRUE(created.ok()) << created.error().message;
        resolver_.emplace(std::move(created).value());
    }

    MxLookup mx(std::string_view domain) {
        std::optional<MxLookup> result;
        Result<LookupId> id =
            resolver_->lookup_mx(domain, [&](const MxLookup& lookup) { result = lookup; });
        EXPECT_TRUE(id.ok());
        EXPECT_TRUE(loop_.run_until(*resolver_, [&] { return result.has_value(); }));
        return result.value_or(MxLookup{});
    }

    AddressLookup addresses(std::string_view host, AddressFamilies families) {
        std::optional<AddressLookup> result;
        Result<LookupId> id = resolver_->lookup_addresses(
            host, families, [&](AddressLookup l) { result = std::move(l); });
        EXPECT_TRUE(id.ok());
        EXPECT_TRUE(loop_.run_until(*resolver_, [&] { return result.has_value(); }));
        return result.value_or(AddressLookup{});
    }

    static Dnsmasq* dnsmasq_;
    PollLoop loop_;  // declared before the resolver: it must outlive it
    std::optional<Resolver> resolver_;
};

Dnsmasq* ResolverTest::dnsmasq_ = nullptr;

TEST_F(ResolverTest, MxWithSeveralPreferences) {
    const MxLookup lookup = mx("Multi.Test.");
    EXPECT_EQ(lookup.outcome, DnsOutcome::found) << lookup.reason;
    EXPECT_EQ(lookup.domain, "multi.test");
    std::vector<MxRecord> records = lookup.records;
    std::sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
        return std::tie(a.preference, a.host) < std::tie(b.preference, b.host);
    });
    const std::vector<MxRecord> expected = {
        {10, "mx1.multi.test"}, {20, "mx2.multi.test"}, {20, "mx3.multi.test"}};
    EXPECT_EQ(records, expected);
    EXPECT_EQ(lookup.reason, "DNS lookup of MX for multi.test: 3 records");
}

TEST_F(ResolverTest, TxtRecordsJoinTheirStrings) {
    std::optional<TxtLookup> result;
    Result<LookupId> id = resolver_->lookup_txt(
        "_MTA-STS.multi.test", [&](TxtLookup lookup) { result = std::move(lookup); });
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(loop_.run_until(*resolver_, [&] { return result.has_value(); }));
    EXPECT_EQ(result->outcome, DnsOutcome::found) << result->reason;
    EXPECT_EQ(result->name, "_mta-sts.multi.test");
    std::vector<std::string> records = result->records;
    std::sort(records.begin(), records.end());
    EXPECT_EQ(records, (std::vector<std::string>{"v=STSv1; id=20261201", "v=spf1 -all"}));

    result.reset();
    id = resolver_->lookup_txt("_mta-sts.plain.test",
                               [&](TxtLookup lookup) { result = std::move(lookup); });
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(loop_.run_until(*resolver_, [&] { return result.has_value(); }));
    EXPECT_NE(result->outcome, DnsOutcome::found);
    EXPECT_TRUE(result->records.empty());
    EXPECT_NE(result->reason.find("DNS lookup of TXT for _mta-sts.plain.test"), std::string::npos)
        << result->reason;
}

TEST_F(ResolverTest, NoMxForNameWithAddressIsNoData) {
    const MxLookup lookup = mx("plain.test");
    EXPECT_EQ(lookup.outcome, DnsOutcome::no_data);
    EXPECT_TRUE(lookup.records.empty());
    EXPECT_EQ(lookup.reason, "DNS lookup of MX for plain.test: no MX records");
}

TEST_F(ResolverTest, MissingNameIsNxDomain) {
    const MxLookup lookup = mx("absent.test");
    EXPECT_EQ(lookup.outcome, DnsOutcome::no_domain);
    EXPECT_EQ(lookup.reason, "DNS lookup of MX for absent.test: domain does not exist (NXDOMAIN)");
    const AddressLookup host = addresses("absent.test", AddressFamilies::both);
    EXPECT_EQ(host.outcome, DnsOutcome::no_domain);
    EXPECT_TRUE(host.addresses.empty());
}

TEST_F(ResolverTest, NullMxRecordIsReportedAsRoot) {
    const MxLookup lookup = mx("null.test");
    ASSERT_EQ(lookup.outcome, DnsOutcome::found) << lookup.reason;
    EXPECT_EQ(lookup.records, (std::vector<MxRecord>{{0, "."}}));
}

TEST_F(ResolverTest, AddressesOfBothFamilies) {
    const AddressLookup both = addresses("mx2.multi.test", AddressFamilies::both);
    ASSERT_EQ(both.outcome, DnsOutcome::found) << both.reason;
    ASSERT_EQ(both.addresses.size(), 2u);
    EXPECT_EQ(both.addresses[0].to_string(), "192.0.2.12");  // IPv4 first
    EXPECT_EQ(both.addresses[1].to_string(), "2001:db8::12");

    const AddressLookup ipv4 = addresses("mx2.multi.test", AddressFamilies::ipv4);
    EXPECT_EQ(address_texts(ipv4.addresses), std::set<std::string>{"192.0.2.12"});
    const AddressLookup ipv6 = addresses("mx2.multi.test", AddressFamilies::ipv6);
    EXPECT_EQ(address_texts(ipv6.addresses), std::set<std::string>{"2001:db8::12"});
    EXPECT_EQ(ipv6.reason, "DNS lookup of AAAA for mx2.multi.test: 1 addresses");
}

TEST_F(ResolverTest, OneFamilyMissing) {
    const AddressLookup ipv6 = addresses("v4only.test", AddressFamilies::ipv6);
    EXPECT_EQ(ipv6.outcome, DnsOutcome::no_data);
    EXPECT_EQ(ipv6.reason, "DNS lookup of AAAA for v4only.test: no AAAA records");
    const AddressLookup both = addresses("v4only.test", AddressFamilies::both);
    EXPECT_EQ(both.outcome, DnsOutcome::found);
    EXPECT_EQ(address_texts(both.addresses), std::set<std::string>{"192.0.2.8"});
}

TEST_F(ResolverTest, RefusedAnswerIsTemporary) {
    // dnsmasq has no upstream for names outside .test and refuses them.
    const MxLookup lookup = mx("example.com");
    EXPECT_EQ(lookup.outcome, DnsOutcome::temporary_failure);
    EXPECT_EQ(lookup.reason,
              "DNS lookup of MX for example.com failed: refused by the DNS server (REFUSED)");
}

TEST_F(ResolverTest, InvalidNameCompletesFromTheLoopNotFromLookup) {
    bool called = false;
    MxLookup result;
    Result<LookupId> id = resolver_->lookup_mx("bad name.test", [&](const MxLookup& lookup) {
        called = true;
        result = lookup;
    });
    ASSERT_TRUE(id.ok());
    EXPECT_FALSE(called);
    EXPECT_EQ(resolver_->next_timeout(), std::chrono::milliseconds(0));
    EXPECT_EQ(resolver_->lookups_outstanding(), 1u);
    resolver_->deliver_completions();
    ASSERT_TRUE(called);
    EXPECT_EQ(result.outcome, DnsOutcome::no_domain);
    EXPECT_EQ(result.reason, "DNS lookup of MX for bad?name.test: not a valid domain name");
    EXPECT_EQ(resolver_->lookups_outstanding(), 0u);
}

TEST_F(ResolverTest, CallbacksRunOnlyFromTheLoop) {
    // Even an answer already in the socket is not delivered until the owner says so.
    bool called = false;
    ASSERT_TRUE(resolver_->lookup_mx("multi.test", [&](const MxLookup&) { called = true; }).ok());
    EXPECT_FALSE(called);
    EXPECT_FALSE(loop_.watched().empty());  // the query's socket, handed to the owner
    usleep(100'000);
    EXPECT_FALSE(called);
    EXPECT_TRUE(loop_.run_until(*resolver_, [&] { return called; }));
}

TEST_F(ResolverTest, ManyConcurrentLookupsThroughFewSlots) {
    ResolverOptions options;
    options.servers = {dnsmasq_->server()};
    options.lookups_in_flight_max = 16;
    options.lookups_waiting_max = many_hosts;
    start(options);
    std::vector<std::optional<AddressLookup>> results(many_hosts);
    int done = 0;
    for (int i = 0; i < many_hosts; ++i) {
        Result<LookupId> id = resolver_->lookup_addresses(
            many_host_name(i), AddressFamilies::ipv4, [&results, &done, i](AddressLookup lookup) {
                results[static_cast<std::size_t>(i)] = std::move(lookup);
                ++done;
            });
        ASSERT_TRUE(id.ok()) << id.error().message;
    }
    EXPECT_EQ(resolver_->lookups_outstanding(), std::size_t{many_hosts});
    ASSERT_TRUE(loop_.run_until(*resolver_, [&] { return done == many_hosts; }));
    for (int i = 0; i < many_hosts; ++i) {
        const AddressLookup& lookup = *results[static_cast<std::size_t>(i)];
        EXPECT_EQ(lookup.host, many_host_name(i));
        ASSERT_EQ(lookup.outcome, DnsOutcome::found) << lookup.reason;
        EXPECT_EQ(address_texts(lookup.addresses), std::set<std::string>{many_host_address(i)});
    }
    EXPECT_EQ(resolver_->lookups_outstanding(), 0u);
    EXPECT_TRUE(loop_.watched().empty());  // idle: c-ares closed its sockets and said so
}

TEST_F(ResolverTest, LargeAnswerComesOverTcp) {
    ResolverOptions options;
    options.servers = {dnsmasq_->server()};
    options.udp_payload_bytes_max = 512;
    start(options);
    const MxLookup lookup = mx("big.test");
    ASSERT_EQ(lookup.outcome, DnsOutcome::found) << lookup.reason;
    EXPECT_EQ(lookup.records.size(), std::size_t{big_mx_records});
    // The truncated UDP answer sent c-ares to TCP, whose connect waits for writability.
    EXPECT_TRUE(loop_.saw_writable());
}

TEST_F(ResolverTest, TimeoutIsTemporaryAfterEveryTry) {
    SilentUdpServer silent;
    ResolverOptions options;
    options.servers = {silent.server()};
    options.timeout_ms = 100;
    options.tries = 2;
    start(options);
    const auto started = std::chrono::steady_clock::now();
    const MxLookup lookup = mx("example.com");
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(lookup.outcome, DnsOutcome::temporary_failure);
    EXPECT_EQ(lookup.reason, "DNS lookup of MX for example.com timed out");
    EXPECT_EQ(silent.count_received(), 2);  // one query per try
    // 100 ms, then 200 ms (c-ares doubles the wait each round).
    EXPECT_GE(elapsed, std::chrono::milliseconds(290));
    EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(ResolverTest, ServerFailureIsTemporary) {
    ScriptedDnsServer server([](const std::vector<std::uint8_t>& query) {
        return testing::answer_with_rcode(query, 2);
    });
    ResolverOptions options;
    options.servers = {server.server()};
    start(options);
    const AddressLookup lookup = addresses("example.com", AddressFamilies::both);
    EXPECT_EQ(lookup.outcome, DnsOutcome::temporary_failure);
    EXPECT_EQ(lookup.reason,
              "DNS lookup of A/AAAA for example.com failed: server failure (SERVFAIL)");
}

// An answer with MX or A records whose TTLs are 3600, `second_ttl` and 7200: the lookup keeps
// the smallest.
std::vector<std::uint8_t> answer_with_ttls(const std::vector<std::uint8_t>& query,
                                           std::uint32_t second_ttl) {
    std::vector<std::uint8_t> answer = testing::answer_with_rcode(query, 0);
    const bool mx = answer[answer.size() - 3] == 15;  // the question's type, low byte
    answer[7] = 3;                                    // ANCOUNT
    const std::uint32_t ttls[] = {3600, second_ttl, 7200};
    for (std::uint8_t index = 0; index < 3; ++index) {
        const std::uint32_t ttl = ttls[index];
        std::vector<std::uint8_t> record = {0xc0,
                                            0x0c,
                                            0x00,
                                            static_cast<std::uint8_t>(mx ? 15 : 1),
                                            0x00,
                                            0x01,
                                            static_cast<std::uint8_t>(ttl >> 24),
                                            static_cast<std::uint8_t>(ttl >> 16),
                                            static_cast<std::uint8_t>(ttl >> 8),
                                            static_cast<std::uint8_t>(ttl)};
        if (mx) {
            // preference, then "mxN" under the question's name
            record.insert(record.end(), {0x00, 0x08, 0x00, 10, 0x03, 'm', 'x',
                                         static_cast<std::uint8_t>('0' + index), 0xc0, 0x0c});
        } else {
            record.insert(record.end(), {0x00, 0x04, 192, 0, 2, static_cast<std::uint8_t>(index)});
        }
        answer.insert(answer.end(), record.begin(), record.end());
    }
    return answer;
}

TEST_F(ResolverTest, LookupsKeepTheSmallestTtlOfTheAnswer) {
    ScriptedDnsServer server(
        [](const std::vector<std::uint8_t>& query) { return answer_with_ttls(query, 45); });
    ResolverOptions options;
    options.servers = {server.server()};
    start(options);
    const MxLookup lookup = mx("example.com");
    ASSERT_EQ(lookup.outcome, DnsOutcome::found) << lookup.reason;
    EXPECT_EQ(lookup.records.size(), 3u);
    EXPECT_EQ(lookup.ttl_s, 45u);
    const AddressLookup host = addresses("example.com", AddressFamilies::ipv4);
    ASSERT_EQ(host.outcome, DnsOutcome::found) << host.reason;
    EXPECT_EQ(host.addresses.size(), 3u);
    EXPECT_EQ(host.ttl_s, 45u);
}

TEST_F(ResolverTest, TtlWithTheTopBitSetIsZero) {
    // RFC 2181 §8: such a TTL is read as zero.
    ScriptedDnsServer server([](const std::vector<std::uint8_t>& query) {
        return answer_with_ttls(query, 0x80000001u);
    });
    ResolverOptions options;
    options.servers = {server.server()};
    start(options);
    EXPECT_EQ(mx("example.com").ttl_s, 0u);
}

TEST_F(ResolverTest, GarbledAnswerIsMalformed) {
    ScriptedDnsServer server(testing::answer_truncated_record);
    ResolverOptions options;
    options.servers = {server.server()};
    start(options);
    const MxLookup lookup = mx("example.com");
    EXPECT_EQ(lookup.outcome, DnsOutcome::malformed_answer);
    EXPECT_EQ(lookup.reason, "DNS lookup of MX for example.com: malformed answer");
    const AddressLookup host = addresses("example.com", AddressFamilies::ipv4);
    EXPECT_EQ(host.outcome, DnsOutcome::malformed_answer);
}

TEST_F(ResolverTest, QueueBoundFailsFastAndRecovers) {
    SilentUdpServer silent;
    ResolverOptions options;
    options.servers = {silent.server()};
    options.lookups_in_flight_max = 2;
    options.lookups_waiting_max = 3;
    options.timeout_ms = 60'000;
    start(options);
    int called = 0;
    std::vector<LookupId> ids;
    for (int i = 0; i < 5; ++i) {
        Result<LookupId> id =
            resolver_->lookup_mx(many_host_name(i), [&](const MxLookup&) { ++called; });
        ASSERT_TRUE(id.ok());
        ids.push_back(id.value());
    }
    Result<LookupId> refused =
        resolver_->lookup_mx("one-too-many.test", [&](const MxLookup&) { ++called; });
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message,
              "DNS lookup of MX for one-too-many.test not started: 5 lookups already queued");
    // A waiting lookup cancelled makes room for one more.
    EXPECT_TRUE(resolver_->cancel(ids.back()));
    EXPECT_FALSE(resolver_->cancel(ids.back()));
    EXPECT_TRUE(resolver_->lookup_mx("now-fits.test", [&](const MxLookup&) { ++called; }).ok());
    EXPECT_EQ(resolver_->lookups_outstanding(), 5u);
    EXPECT_FALSE(loop_.watched().empty());
    // Destroying the resolver drops every callback and releases every socket.
    resolver_.reset();
    EXPECT_EQ(called, 0);
    EXPECT_TRUE(loop_.watched().empty());
}

TEST_F(ResolverTest, WaitingLookupsRunWhenSlotsFree) {
    ResolverOptions options;
    options.servers = {dnsmasq_->server()};
    options.lookups_in_flight_max = 1;
    options.lookups_waiting_max = 2;
    start(options);
    std::vector<std::string> order;
    for (const char* host : {"h1.test", "h2.test", "h3.test"}) {
        ASSERT_TRUE(
            resolver_
                ->lookup_addresses(host, AddressFamilies::both,
                                   [&order](const AddressLookup& l) { order.push_back(l.host); })
                .ok());
    }
    ASSERT_TRUE(loop_.run_until(*resolver_, [&] { return order.size() == 3; }));
    EXPECT_EQ(order, (std::vector<std::string>{"h1.test", "h2.test", "h3.test"}));  // FIFO
}

TEST_F(ResolverTest, CancelledLookupNeverCallsBack) {
    bool cancelled_called = false;
    bool other_called = false;
    Result<LookupId> cancelled =
        resolver_->lookup_mx("multi.test", [&](const MxLookup&) { cancelled_called = true; });
    Result<LookupId> other =
        resolver_->lookup_mx("plain.test", [&](const MxLookup&) { other_called = true; });
    ASSERT_TRUE(cancelled.ok() && other.ok());
    EXPECT_NE(cancelled.value(), other.value());
    EXPECT_TRUE(resolver_->cancel(cancelled.value()));
    EXPECT_EQ(resolver_->lookups_outstanding(), 1u);
    ASSERT_TRUE(loop_.run_until(*resolver_, [&] { return other_called; }));
    // Let the cancelled query's answer arrive too: it must be swallowed.
    EXPECT_TRUE(loop_.run_until(*resolver_, [&] { return loop_.watched().empty(); }));
    EXPECT_FALSE(cancelled_called);
}

TEST_F(ResolverTest, CancelAllDropsEverythingAndReleasesSockets) {
    int called = 0;
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(
            resolver_->lookup_mx(many_host_name(i), [&](const MxLookup&) { ++called; }).ok());
    }
    ASSERT_TRUE(resolver_->lookup_mx("bad name", [&](const MxLookup&) { ++called; }).ok());
    resolver_->cancel_all();
    EXPECT_EQ(resolver_->lookups_outstanding(), 0u);
    EXPECT_TRUE(loop_.watched().empty());
    EXPECT_EQ(resolver_->next_timeout(), std::nullopt);
    resolver_->deliver_completions();
    EXPECT_EQ(called, 0);
    // Still usable afterwards.
    EXPECT_EQ(mx("multi.test").outcome, DnsOutcome::found);
}

TEST_F(ResolverTest, CallbackMayStartTheNextLookup) {
    std::optional<AddressLookup> address;
    ASSERT_TRUE(
        resolver_
            ->lookup_mx("multi.test",
                        [&](const MxLookup& lookup) {
                            ASSERT_FALSE(lookup.records.empty());
                            ASSERT_TRUE(
                                resolver_
                                    ->lookup_addresses("mx1.multi.test", AddressFamilies::both,
                                                       [&](const AddressLookup& l) { address = l; })
                                    .ok());
                        })
            .ok());
    ASSERT_TRUE(loop_.run_until(*resolver_, [&] { return address.has_value(); }));
    EXPECT_EQ(address_texts(address->addresses), std::set<std::string>{"192.0.2.11"});
}

TEST_F(ResolverTest, RouteForDomainEndToEnd) {
    const MxPlanOptions options;  // IPv4 first, port 25
    const RandomSource random = thread_random_source();
    ASSERT_FALSE(plan_hosts_without_dns("multi.test").has_value());
    const HostPlan hosts = plan_hosts("multi.test", mx("multi.test"), options, random);
    ASSERT_TRUE(hosts.ok());
    std::vector<AddressLookup> lookups;
    for (const PlannedHost& host : hosts.hosts) {
        lookups.push_back(addresses(host.name, address_families_for(options.address_preference)));
    }
    const RoutePlan route = plan_targets(hosts, lookups, options, random);
    ASSERT_TRUE(route.ok());
    ASSERT_EQ(route.targets.size(), 3u);
    EXPECT_EQ(route.targets[0].host, "mx1.multi.test");
    EXPECT_EQ(route.targets[0].address.to_string(), "192.0.2.11");
    EXPECT_EQ(route.targets[1].address.to_string(), "192.0.2.12");
    EXPECT_EQ(route.targets[2].address.to_string(), "2001:db8::12");
    EXPECT_EQ(route.targets[2].tls_server_name(), "mx2.multi.test");
    EXPECT_EQ(route.targets[2].port, 25);
    EXPECT_EQ(route.skipped_hosts,
              std::vector<std::string>{
                  "DNS lookup of A/AAAA for mx3.multi.test: domain does not exist (NXDOMAIN)"});
}

TEST_F(ResolverTest, NullMxDomainEndToEnd) {
    const HostPlan hosts =
        plan_hosts("null.test", mx("null.test"), MxPlanOptions{}, thread_random_source());
    ASSERT_FALSE(hosts.ok());
    EXPECT_EQ(hosts.failure->reply_line(),
              "556 5.1.10 domain null.test does not accept mail (null MX)");
}

TEST_F(ResolverTest, ImplicitMxEndToEnd) {
    const MxPlanOptions options;
    const HostPlan hosts =
        plan_hosts("plain.test", mx("plain.test"), options, thread_random_source());
    ASSERT_TRUE(hosts.ok());
    ASSERT_EQ(hosts.hosts.size(), 1u);
    EXPECT_TRUE(hosts.hosts[0].implicit_mx);
    const std::vector<AddressLookup> lookups = {addresses("plain.test", AddressFamilies::both)};
    const RoutePlan route = plan_targets(hosts, lookups, options, thread_random_source());
    ASSERT_EQ(route.targets.size(), 2u);
    EXPECT_EQ(route.targets[0].address.to_string(), "192.0.2.7");
    EXPECT_EQ(route.targets[1].address.to_string(), "2001:db8::7");
}

TEST(ResolverOptionsTest, RejectsBadOptionsWithAReadableError) {
    PollLoop loop;
    ResolverOptions options;
    options.servers = {"127.0.0.1:99999"};
    Result<Resolver> bad_port = Resolver::create(options, loop);
    ASSERT_FALSE(bad_port.ok());
    EXPECT_EQ(bad_port.error().message,
              "DNS server '127.0.0.1:99999' is not IP, IP:PORT or [IPv6]:PORT");
    options.servers = {"dns.example.com"};
    EXPECT_FALSE(Resolver::create(options, loop).ok());
    options.servers = {"[::1]:5353", "::1", "127.0.0.1", "192.0.2.53:53"};
    EXPECT_TRUE(Resolver::create(options, loop).ok());
    options.timeout_ms = 0;
    Result<Resolver> bad_timeout = Resolver::create(options, loop);
    ASSERT_FALSE(bad_timeout.ok());
    EXPECT_EQ(bad_timeout.error().message, "resolver option timeout_ms = 0 is outside 1..60000");
}

TEST(ResolverOptionsTest, SystemConfigurationWhenNoServersGiven) {
    PollLoop loop;
    Result<Resolver> resolver = Resolver::create(ResolverOptions{}, loop);
    EXPECT_TRUE(resolver.ok()) << resolver.error().message;
}

}  // namespace
}  // namespace relay::delivery
