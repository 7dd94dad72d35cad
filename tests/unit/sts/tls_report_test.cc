// TLS report counts (RFC 8460): result type names, shards, merging, pruning, the saved form.
#include "relay/sts/tls_report.h"

#include <gtest/gtest.h>

#include <thread>

namespace relay::sts {
namespace {

ReportKey key(const std::string& day, std::optional<ResultType> result,
              const std::string& mx = "mx.example.com") {
    return ReportKey{day, "example.com", PolicyType::sts, mx, result};
}

TEST(TlsReport, ResultTypesHaveTheRfcNames) {
    EXPECT_EQ(result_type_name(ResultType::starttls_not_supported), "starttls-not-supported");
    EXPECT_EQ(result_type_name(ResultType::sts_webpki_invalid), "sts-webpki-invalid");
    EXPECT_EQ(result_type_from_name("certificate-host-mismatch"),
              ResultType::certificate_host_mismatch);
    EXPECT_EQ(result_type_from_name("success"), std::nullopt);
    EXPECT_EQ(report_day(0), "1970-01-01");
    EXPECT_EQ(report_day(1764633600), "2025-12-02");
}

TEST(TlsReport, ShardsCountAndDrainWithoutLosingACount) {
    ReportShard shard;
    std::thread worker([&shard] {
        for (int index = 0; index < 20000; ++index) {
            shard.count(key("2026-12-01", std::nullopt));
        }
    });
    ReportCounts totals;
    for (int index = 0; index < 200; ++index) {
        merge_counts(totals, shard.drain());
    }
    worker.join();
    merge_counts(totals, shard.drain());
    EXPECT_EQ(totals[key("2026-12-01", std::nullopt)], 20000u);
}

TEST(TlsReport, TheSavedFormRoundTripsAndOldDaysArePruned) {
    ReportCounts counts;
    counts[key("2026-11-01", std::nullopt)] = 3;
    counts[key("2026-12-01", std::nullopt)] = 7;
    counts[key("2026-12-01", ResultType::starttls_not_supported)] = 2;
    counts[ReportKey{"2026-12-01", "example.com", PolicyType::sts, "",
                     ResultType::sts_policy_fetch_error}] = 1;
    auto decoded = decode_counts(encode_counts(counts) + "bad line\n");
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, counts);
    prune_days(counts, "2026-11-15");
    EXPECT_EQ(counts.size(), 3u);
    EXPECT_FALSE(decode_counts("2026-12-01 example.com sts - success 1\n"));
}

TEST(TlsReport, PoliciesAreKeptBesideTheCountsAndRoundTrip) {
    ReportShard shard;
    PolicyWhere sts_policy{"2026-12-01", "example.com", PolicyType::sts, ""};
    PolicyWhere host{"2026-12-01", "example.com", PolicyType::tlsa, "mx.example.com"};
    shard.note_policy(sts_policy, {"version: STSv1", "mode: enforce", "max_age: 86400"});
    shard.note_policy(sts_policy, {"version: STSv1", "mode: enforce", "max_age: 86400"});
    // A TLSA rollover during the day: both records are named.
    shard.note_policy(host, {"_25._tcp.mx.example.com. IN TLSA 3 1 1 AA"});
    shard.note_policy(host, {"_25._tcp.mx.example.com. IN TLSA 3 1 1 BB"});
    ReportPolicies policies = shard.drain_policies();
    EXPECT_TRUE(shard.drain_policies().empty());
    ASSERT_EQ(policies.size(), 2u);
    EXPECT_EQ(policies[sts_policy],
              (std::vector<std::string>{"version: STSv1", "mode: enforce", "max_age: 86400"}));
    EXPECT_EQ(policies[host],
              (std::vector<std::string>{"_25._tcp.mx.example.com. IN TLSA 3 1 1 AA",
                                        "_25._tcp.mx.example.com. IN TLSA 3 1 1 BB"}));

    ReportCounts counts;
    counts[key("2026-12-01", std::nullopt)] = 4;
    std::string text = encode_counts(counts) + encode_policies(policies);
    auto decoded = decode_policies(text + "policy 2026-12-01 example.com dane - x\n");
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, policies);
    // The policy lines are no counts: a reader of counts alone gets the counts it had.
    EXPECT_EQ(decode_counts(text).value(), counts);
    prune_days(policies, "2026-12-02");
    EXPECT_TRUE(policies.empty());
}

TEST(TlsReport, APolicyKeepsAtMostItsLineBound) {
    ReportShard shard;
    PolicyWhere where{"2026-12-01", "example.com", PolicyType::sts, ""};
    std::vector<std::string> lines;
    for (std::size_t index = 0; index < report_policy_lines_max + 10; ++index) {
        lines.push_back("mx: mx" + std::to_string(index) + ".example.com");
    }
    shard.note_policy(where, lines);
    EXPECT_EQ(shard.drain_policies()[where].size(), report_policy_lines_max);
}

}  // namespace
}  // namespace relay::sts
