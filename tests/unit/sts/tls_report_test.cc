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

}  // namespace
}  // namespace relay::sts
