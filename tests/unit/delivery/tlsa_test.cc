// tlsa_test.cc -- TLSA answers (relay/delivery/tlsa_answer.h) parsed from crafted messages, and
// the resolver's TLSA lookups and AD bits against a scripted DNS server on loopback.
#include <gtest/gtest.h>

#include <optional>

#include "dns_test_support.h"
#include "relay/delivery/resolver.h"
#include "relay/delivery/tlsa_answer.h"

namespace relay::delivery {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint8_t flag_ad = 0x20;

// The query's header and question as a response (RCODE 0, no records), AD as asked.
Bytes response_to(const Bytes& query, bool authenticated) {
    Bytes answer = testing::answer_with_rcode(query, 0);
    answer[3] = static_cast<std::uint8_t>(0x80 | (authenticated ? flag_ad : 0));  // RA, AD
    return answer;
}

void append_record(Bytes& message, std::uint16_t type, const Bytes& data) {
    message.insert(message.end(), {0xc0, 0x0c, static_cast<std::uint8_t>(type >> 8),
                                   static_cast<std::uint8_t>(type), 0x00, 0x01, 0x00, 0x00, 0x0e,
                                   0x10, static_cast<std::uint8_t>(data.size() >> 8),
                                   static_cast<std::uint8_t>(data.size())});
    message.insert(message.end(), data.begin(), data.end());
    message[7] = static_cast<std::uint8_t>(message[7] + 1);  // ANCOUNT
}

Bytes tlsa_data(std::uint8_t usage, std::uint8_t selector, std::uint8_t matching,
                std::size_t data_bytes, std::uint8_t fill) {
    Bytes data(3 + data_bytes, fill);
    data[0] = usage;
    data[1] = selector;
    data[2] = matching;
    return data;
}

// A query for _25._tcp.mx.example TLSA, as the resolver would send it.
Bytes sample_query() {
    Bytes query = {0x12, 0x34, 0x01, flag_ad, 0, 1, 0, 0, 0, 0, 0, 0};
    for (std::string label : {"_25", "_tcp", "mx", "example"}) {
        query.push_back(static_cast<std::uint8_t>(label.size()));
        query.insert(query.end(), label.begin(), label.end());
    }
    query.insert(query.end(), {0, 0, 52, 0, 1});
    return query;
}

TEST(TlsaAnswer, RecordsInAnswerOrderAfterACname) {
    Bytes message = response_to(sample_query(), true);
    append_record(message, 5, {0xc0, 0x0c});  // a CNAME (its target is not read)
    append_record(message, dns_type_tlsa, tlsa_data(3, 1, 1, 32, 0xaa));
    append_record(message, dns_type_tlsa, tlsa_data(2, 0, 2, 64, 0xbb));
    append_record(message, 46, Bytes(20, 0));  // an RRSIG
    std::optional<std::vector<tls::TlsaRecord>> records = parse_tlsa_answer(message);
    ASSERT_TRUE(records.has_value());
    ASSERT_EQ(records->size(), 2u);
    EXPECT_EQ((*records)[0], (tls::TlsaRecord{3, 1, 1, Bytes(32, 0xaa)}));
    EXPECT_EQ((*records)[1], (tls::TlsaRecord{2, 0, 2, Bytes(64, 0xbb)}));
    EXPECT_TRUE(dns_answer_authenticated(message));
    message[3] = 0x80;
    EXPECT_FALSE(dns_answer_authenticated(message));
}

TEST(TlsaAnswer, MalformedMessagesAreRefused) {
    Bytes message = response_to(sample_query(), true);
    append_record(message, dns_type_tlsa, tlsa_data(3, 1, 1, 32, 0xaa));
    for (std::size_t cut = 0; cut < message.size(); ++cut) {
        Bytes shorter(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(cut));
        EXPECT_FALSE(parse_tlsa_answer(shorter).has_value()) << "cut at " << cut;
    }
    Bytes too_short = response_to(sample_query(), true);
    append_record(too_short, dns_type_tlsa, {3, 1});  // no room for the matching type
    EXPECT_FALSE(parse_tlsa_answer(too_short).has_value());
    EXPECT_FALSE(dns_answer_authenticated(Bytes(11, 0xff)));
}

TEST(TlsaAnswer, AtMostTheBoundIsKept) {
    Bytes message = response_to(sample_query(), true);
    for (std::size_t index = 0; index < tlsa_records_max + 5; ++index) {
        append_record(message, dns_type_tlsa, tlsa_data(3, 1, 1, 32, 0x11));
    }
    std::optional<std::vector<tls::TlsaRecord>> records = parse_tlsa_answer(message);
    ASSERT_TRUE(records.has_value());
    EXPECT_EQ(records->size(), tlsa_records_max);
}

class TlsaLookupTest : public ::testing::Test {
  protected:
    void start(const std::string& server) {
        ResolverOptions options;
        options.servers = {server};
        options.timeout_ms = 500;
        options.tries = 1;
        Result<Resolver> created = Resolver::create(options, loop_);
        ASSERT_TRUE(created.ok()) << created.error().message;
        resolver_.emplace(std::move(created).value());
    }

    TlsaLookup tlsa(std::string_view host) {
        std::optional<TlsaLookup> result;
        Result<LookupId> id =
            resolver_->lookup_tlsa(host, 25, [&](TlsaLookup lookup) { result = lookup; });
        EXPECT_TRUE(id.ok());
        EXPECT_TRUE(loop_.run_until(*resolver_, [&] { return result.has_value(); }));
        return result.value_or(TlsaLookup{});
    }

    template <typename Lookup, typename Start>
    Lookup run(Start start_lookup) {
        std::optional<Lookup> result;
        Result<LookupId> id = start_lookup([&](Lookup lookup) { result = std::move(lookup); });
        EXPECT_TRUE(id.ok());
        EXPECT_TRUE(loop_.run_until(*resolver_, [&] { return result.has_value(); }));
        return result.value_or(Lookup{});
    }

    testing::PollLoop loop_;
    std::optional<Resolver> resolver_;
};

// The QTYPE's low octet (the query ends with an EDNS0 OPT record, not with its question).
std::uint8_t question_type(const Bytes& query) {
    std::size_t offset = 12;
    while (offset < query.size() && query[offset] != 0) {
        offset += 1 + query[offset];
    }
    return offset + 2 < query.size() ? query[offset + 2] : 0;
}

// Answers like a validating resolver: the AD bit only for a query that asked for it
// (RFC 6840 §5.7), TLSA records for _25._tcp.mx.example, A and MX records for the rest.
Bytes validating_answer(const Bytes& query) {
    const bool asked = (query[3] & flag_ad) != 0;
    Bytes answer = response_to(query, asked);
    const std::uint8_t type = question_type(query);
    if (type == dns_type_tlsa) {
        append_record(answer, dns_type_tlsa, tlsa_data(3, 1, 1, 32, 0xaa));
        append_record(answer, dns_type_tlsa, tlsa_data(1, 1, 1, 32, 0xbb));
    } else if (type == 1) {
        append_record(answer, 1, {127, 0, 0, 1});
    } else if (type == 15) {
        append_record(answer, 15, {0, 10, 2, 'm', 'x', 0xc0, 0x0c});
    }
    return answer;
}

TEST_F(TlsaLookupTest, QueriesAskForTheAdBitAndResultsCarryIt) {
    testing::ScriptedDnsServer server(validating_answer);
    start(server.server());
    TlsaLookup lookup = tlsa("MX.Example.");
    ASSERT_EQ(lookup.outcome, DnsOutcome::found) << lookup.reason;
    EXPECT_TRUE(lookup.authenticated);
    EXPECT_EQ(lookup.host, "mx.example");
    EXPECT_EQ(lookup.reason, "DNS lookup of TLSA for _25._tcp.mx.example: 2 records");
    ASSERT_EQ(lookup.records.size(), 2u);  // the unusable one too: DANE decides
    EXPECT_EQ(lookup.records[0].usage, 3);
    EXPECT_EQ(lookup.ttl_s, 3600u);

    MxLookup mx = run<MxLookup>(
        [&](auto callback) { return resolver_->lookup_mx("example", std::move(callback)); });
    ASSERT_EQ(mx.outcome, DnsOutcome::found) << mx.reason;
    EXPECT_TRUE(mx.authenticated);
    AddressLookup address = run<AddressLookup>([&](auto callback) {
        return resolver_->lookup_addresses("mx.example", AddressFamilies::ipv4,
                                           std::move(callback));
    });
    ASSERT_EQ(address.outcome, DnsOutcome::found) << address.reason;
    EXPECT_TRUE(address.authenticated);
}

TEST_F(TlsaLookupTest, AnAnswerWithoutTheAdBitIsNotAuthenticated) {
    testing::ScriptedDnsServer server([](const Bytes& query) {
        Bytes answer = validating_answer(query);
        answer[3] = static_cast<std::uint8_t>(answer[3] & ~flag_ad);
        return answer;
    });
    start(server.server());
    TlsaLookup lookup = tlsa("mx.example");
    ASSERT_EQ(lookup.outcome, DnsOutcome::found) << lookup.reason;
    EXPECT_FALSE(lookup.authenticated);
}

TEST_F(TlsaLookupTest, FailuresAndDenials) {
    testing::ScriptedDnsServer nodata([](const Bytes& query) { return response_to(query, true); });
    start(nodata.server());
    TlsaLookup lookup = tlsa("mx.example");
    EXPECT_EQ(lookup.outcome, DnsOutcome::no_data);
    EXPECT_TRUE(lookup.authenticated);  // a secure denial: no DANE, and the resolver says so
    EXPECT_EQ(lookup.reason, "DNS lookup of TLSA for _25._tcp.mx.example: no TLSA records");

    testing::ScriptedDnsServer servfail(
        [](const Bytes& query) { return testing::answer_with_rcode(query, 2); });
    start(servfail.server());
    lookup = tlsa("mx.example");
    EXPECT_EQ(lookup.outcome, DnsOutcome::temporary_failure);
    EXPECT_FALSE(lookup.authenticated);

    testing::ScriptedDnsServer garbled(testing::answer_truncated_record);
    start(garbled.server());
    lookup = tlsa("mx.example");
    EXPECT_EQ(lookup.outcome, DnsOutcome::malformed_answer);

    lookup = tlsa("not a host");
    EXPECT_EQ(lookup.outcome, DnsOutcome::no_domain);
    EXPECT_EQ(lookup.host, "not a host");
}

}  // namespace
}  // namespace relay::delivery
