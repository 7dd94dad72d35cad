// tls_report.h -- TLS reporting counts (RFC 8460): per day and policy domain, the outbound TLS
// sessions that succeeded and those that failed, by the RFC's result types.
//
// Counted on the workers, each into its own shard (a mutex only that worker and the policy
// service's flush take: uncontended), drained by the service thread every few seconds and added
// to the totals kept in <spool>/tls-report. relayctl tls-report reads that file.
//
// The saved form, one line per count after a header line:
//   relay-tls-report 1
//   <YYYY-MM-DD> <policy domain> <sts|tlsa|no-policy-found> <mx host or -> <result> <count>
// where <result> is "success" or a result type of RFC 8460 §4.3.
//
// Bounds: report_keys_max keys per shard between drains and in the totals (further keys are
// not counted, and the drop is counted under the "-" domain); days older than report_days_kept
// are pruned at each flush.
// Thread: count() on the shard's worker; drain() and the totals on the service thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "relay/base/result.h"

namespace relay::sts {

inline constexpr std::size_t report_keys_max = 100000;
inline constexpr std::uint32_t report_days_kept = 31;

// RFC 8460 §4.3 result types.
enum class ResultType : std::uint8_t {
    starttls_not_supported,
    certificate_host_mismatch,
    certificate_expired,
    certificate_not_trusted,
    validation_failure,
    tlsa_invalid,
    dnssec_invalid,
    dane_required,
    sts_policy_fetch_error,
    sts_policy_invalid,
    sts_webpki_invalid,
};

enum class PolicyType : std::uint8_t { sts, tlsa, no_policy_found };

std::string_view result_type_name(ResultType type);
std::optional<ResultType> result_type_from_name(std::string_view name);
std::string_view policy_type_name(PolicyType type);

struct ReportKey {
    std::string day;            // "2026-12-01" (UTC)
    std::string policy_domain;  // lower case
    PolicyType policy_type = PolicyType::sts;
    std::string mx_host;               // the receiving MX host; empty for policy failures
    std::optional<ResultType> result;  // nullopt: a successful session

    auto tie() const { return std::tie(day, policy_domain, policy_type, mx_host, result); }
    bool operator<(const ReportKey& other) const { return tie() < other.tie(); }
    bool operator==(const ReportKey& other) const { return tie() == other.tie(); }
};

using ReportCounts = std::map<ReportKey, std::uint64_t>;

// "YYYY-MM-DD" of a Unix time, UTC.
std::string report_day(std::uint64_t unix_s);

class ReportShard {
  public:
    void count(ReportKey key);
    ReportCounts drain();

  private:
    std::mutex mutex_;
    ReportCounts counts_;
};

// Adds `from` into `into`, within report_keys_max keys.
void merge_counts(ReportCounts& into, const ReportCounts& from);
// Drops the days before `oldest_day` ("YYYY-MM-DD" compares as text).
void prune_days(ReportCounts& counts, std::string_view oldest_day);

std::string encode_counts(const ReportCounts& counts);
// A damaged line is skipped; a file without the header is an error (data_loss).
Result<ReportCounts> decode_counts(std::string_view text);

}  // namespace relay::sts
