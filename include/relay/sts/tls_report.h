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
// where <result> is "success" or a result type of RFC 8460 §4.3; then one line per line of the
// policies those sessions were held to (RFC 8460 §4.4 "policy-string"):
//   policy <YYYY-MM-DD> <policy domain> <sts|tlsa> <mx host or -> <text to the end of the line>
// (an MTA-STS policy's lines, "mode: enforce"; a DANE host's TLSA records in presentation form).
// A reader that knows only counts skips the policy lines as damaged ones.
//
// Bounds: report_keys_max keys per shard between drains and in the totals (further keys are
// not counted); as many policies, each of at most report_policy_lines_max lines; days older
// than report_days_kept are pruned at each flush.
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
// An MTA-STS policy has at most policy_mx_max (100) mx lines and three others; a DANE host a
// few TLSA records (tlsa_records_max, 32). Further lines of one policy are not kept.
inline constexpr std::size_t report_policy_lines_max = 128;

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

// Whose policy: a day's MTA-STS policy of a domain (mx_host empty), or the TLSA records of one
// of its MX hosts under DANE.
struct PolicyWhere {
    std::string day;
    std::string policy_domain;
    PolicyType policy_type = PolicyType::sts;
    std::string mx_host;

    auto tie() const { return std::tie(day, policy_domain, policy_type, mx_host); }
    bool operator<(const PolicyWhere& other) const { return tie() < other.tie(); }
    bool operator==(const PolicyWhere& other) const { return tie() == other.tie(); }
};

// The policy lines of each, in their order, without repeats: a policy that changed during the
// day (a new MTA-STS id, a TLSA rollover) shows the lines of both.
using ReportPolicies = std::map<PolicyWhere, std::vector<std::string>>;

// "YYYY-MM-DD" of a Unix time, UTC.
std::string report_day(std::uint64_t unix_s);

class ReportShard {
  public:
    void count(ReportKey key);
    // The policy a session was held to; cheap when the shard has these lines already.
    void note_policy(const PolicyWhere& where, const std::vector<std::string>& lines);
    ReportCounts drain();
    ReportPolicies drain_policies();

  private:
    std::mutex mutex_;
    ReportCounts counts_;
    ReportPolicies policies_;
};

// Adds `from` into `into`, within report_keys_max keys.
void merge_counts(ReportCounts& into, const ReportCounts& from);
// Adds the lines of `from` into `into`, within report_keys_max policies and
// report_policy_lines_max lines each.
void merge_policies(ReportPolicies& into, const ReportPolicies& from);
// Drops the days before `oldest_day` ("YYYY-MM-DD" compares as text).
void prune_days(ReportCounts& counts, std::string_view oldest_day);
void prune_days(ReportPolicies& policies, std::string_view oldest_day);

std::string encode_counts(const ReportCounts& counts);
// A damaged line is skipped; a file without the header is an error (data_loss).
Result<ReportCounts> decode_counts(std::string_view text);
// The policy lines, to follow encode_counts' text in the same file.
std::string encode_policies(const ReportPolicies& policies);
// The policy lines of a file encode_counts + encode_policies wrote (count lines are skipped).
Result<ReportPolicies> decode_policies(std::string_view text);

}  // namespace relay::sts
