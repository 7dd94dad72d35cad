// tls_report.cc -- RFC 8460 result types, the per-worker count shards and the saved totals.
//
// Untrusted bytes: the MX host names counted come from DNS (validated names); the saved file is
// ours, parsed defensively. Thread: see tls_report.h.
#include "relay/sts/tls_report.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <utility>

namespace relay::sts {
namespace {

constexpr std::string_view header = "relay-tls-report 1";

constexpr std::array<std::pair<ResultType, std::string_view>, 11> result_names = {{
    {ResultType::starttls_not_supported, "starttls-not-supported"},
    {ResultType::certificate_host_mismatch, "certificate-host-mismatch"},
    {ResultType::certificate_expired, "certificate-expired"},
    {ResultType::certificate_not_trusted, "certificate-not-trusted"},
    {ResultType::validation_failure, "validation-failure"},
    {ResultType::tlsa_invalid, "tlsa-invalid"},
    {ResultType::dnssec_invalid, "dnssec-invalid"},
    {ResultType::dane_required, "dane-required"},
    {ResultType::sts_policy_fetch_error, "sts-policy-fetch-error"},
    {ResultType::sts_policy_invalid, "sts-policy-invalid"},
    {ResultType::sts_webpki_invalid, "sts-webpki-invalid"},
}};

std::optional<PolicyType> policy_type_from_name(std::string_view name) {
    for (PolicyType type : {PolicyType::sts, PolicyType::tlsa, PolicyType::no_policy_found}) {
        if (policy_type_name(type) == name) {
            return type;
        }
    }
    return std::nullopt;
}

std::optional<ReportCounts::value_type> decode_line(std::string_view line) {
    std::array<std::string_view, 6> fields;
    for (std::size_t index = 0; index < fields.size(); ++index) {
        std::size_t end = line.find(' ');
        if ((end == std::string_view::npos) != (index + 1 == fields.size())) {
            return std::nullopt;
        }
        fields[index] = line.substr(0, end);
        line = end == std::string_view::npos ? std::string_view() : line.substr(end + 1);
        if (fields[index].empty()) {
            return std::nullopt;
        }
    }
    ReportKey key;
    key.day = std::string(fields[0]);
    key.policy_domain = std::string(fields[1]);
    auto type = policy_type_from_name(fields[2]);
    if (!type || key.day.size() != 10) {
        return std::nullopt;
    }
    key.policy_type = *type;
    key.mx_host = fields[3] == "-" ? std::string() : std::string(fields[3]);
    if (fields[4] != "success") {
        key.result = result_type_from_name(fields[4]);
        if (!key.result) {
            return std::nullopt;
        }
    }
    std::uint64_t count = 0;
    auto [end, error] =
        std::from_chars(fields[5].data(), fields[5].data() + fields[5].size(), count);
    if (error != std::errc() || end != fields[5].data() + fields[5].size()) {
        return std::nullopt;
    }
    return ReportCounts::value_type{std::move(key), count};
}

// "policy <day> <domain> <type> <mx or -> <text>"
std::optional<std::pair<PolicyWhere, std::string>> decode_policy_line(std::string_view line) {
    constexpr std::string_view prefix = "policy ";
    if (!line.starts_with(prefix)) {
        return std::nullopt;
    }
    line.remove_prefix(prefix.size());
    std::array<std::string_view, 4> fields;
    for (std::string_view& field : fields) {
        std::size_t end = line.find(' ');
        if (end == std::string_view::npos || end == 0) {
            return std::nullopt;
        }
        field = line.substr(0, end);
        line.remove_prefix(end + 1);
    }
    auto type = policy_type_from_name(fields[2]);
    if (!type || fields[0].size() != 10 || line.empty()) {
        return std::nullopt;
    }
    PolicyWhere where{std::string(fields[0]), std::string(fields[1]), *type,
                      fields[3] == "-" ? std::string() : std::string(fields[3])};
    return std::pair{std::move(where), std::string(line)};
}

// Adds the lines of `lines` that `into` lacks, in their order, within report_policy_lines_max
// (a policy's lines keep the order they are published in: "version" first).
void merge_lines(std::vector<std::string>& into, const std::vector<std::string>& lines) {
    for (const std::string& line : lines) {
        if (into.size() < report_policy_lines_max &&
            std::find(into.begin(), into.end(), line) == into.end()) {
            into.push_back(line);
        }
    }
}

}  // namespace

std::string_view result_type_name(ResultType type) {
    for (const auto& [candidate, name] : result_names) {
        if (candidate == type) {
            return name;
        }
    }
    return "?";
}

std::optional<ResultType> result_type_from_name(std::string_view name) {
    for (const auto& [type, candidate] : result_names) {
        if (candidate == name) {
            return type;
        }
    }
    return std::nullopt;
}

std::string_view policy_type_name(PolicyType type) {
    switch (type) {
        case PolicyType::sts:
            return "sts";
        case PolicyType::tlsa:
            return "tlsa";
        case PolicyType::no_policy_found:
            return "no-policy-found";
    }
    return "?";
}

std::string report_day(std::uint64_t unix_s) {
    std::time_t time = static_cast<std::time_t>(unix_s);
    std::tm parts{};
    gmtime_r(&time, &parts);
    char text[16];
    std::strftime(text, sizeof text, "%Y-%m-%d", &parts);
    return text;
}

void ReportShard::count(ReportKey key) {
    std::lock_guard lock(mutex_);
    auto found = counts_.find(key);
    if (found != counts_.end()) {
        ++found->second;
    } else if (counts_.size() < report_keys_max) {
        counts_.emplace(std::move(key), 1);
    }
}

void ReportShard::note_policy(const PolicyWhere& where, const std::vector<std::string>& lines) {
    std::lock_guard lock(mutex_);
    auto found = policies_.find(where);
    if (found != policies_.end()) {
        if (found->second != lines) {
            merge_lines(found->second, lines);
        }
    } else if (policies_.size() < report_keys_max) {
        merge_lines(policies_[where], lines);
    }
}

ReportPolicies ReportShard::drain_policies() {
    std::lock_guard lock(mutex_);
    ReportPolicies drained;
    drained.swap(policies_);
    return drained;
}

ReportCounts ReportShard::drain() {
    std::lock_guard lock(mutex_);
    ReportCounts drained;
    drained.swap(counts_);
    return drained;
}

void merge_counts(ReportCounts& into, const ReportCounts& from) {
    for (const auto& [key, count] : from) {
        auto found = into.find(key);
        if (found != into.end()) {
            found->second += count;
        } else if (into.size() < report_keys_max) {
            into.emplace(key, count);
        }
    }
}

void merge_policies(ReportPolicies& into, const ReportPolicies& from) {
    for (const auto& [where, lines] : from) {
        auto found = into.find(where);
        if (found != into.end()) {
            merge_lines(found->second, lines);
        } else if (into.size() < report_keys_max) {
            merge_lines(into[where], lines);
        }
    }
}

void prune_days(ReportCounts& counts, std::string_view oldest_day) {
    std::erase_if(counts, [oldest_day](const auto& item) { return item.first.day < oldest_day; });
}

void prune_days(ReportPolicies& policies, std::string_view oldest_day) {
    std::erase_if(policies, [oldest_day](const auto& item) { return item.first.day < oldest_day; });
}

std::string encode_counts(const ReportCounts& counts) {
    std::string text(header);
    text += "\n";
    for (const auto& [key, count] : counts) {
        text += key.day + " " + key.policy_domain + " " +
                std::string(policy_type_name(key.policy_type)) + " " +
                (key.mx_host.empty() ? std::string("-") : key.mx_host) + " " +
                (key.result ? std::string(result_type_name(*key.result)) : "success") + " " +
                std::to_string(count) + "\n";
    }
    return text;
}

Result<ReportCounts> decode_counts(std::string_view text) {
    std::size_t end = text.find('\n');
    if (text.substr(0, end) != header) {
        return Error{"not a TLS report file (no \"" + std::string(header) + "\" line)", 0,
                     ErrorCode::data_loss};
    }
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ReportCounts counts;
    while (!text.empty()) {
        end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (auto item = decode_line(line)) {
            merge_counts(counts, ReportCounts{*item});
        }
    }
    return counts;
}

std::string encode_policies(const ReportPolicies& policies) {
    std::string text;
    for (const auto& [where, lines] : policies) {
        std::string prefix = "policy " + where.day + " " + where.policy_domain + " " +
                             std::string(policy_type_name(where.policy_type)) + " " +
                             (where.mx_host.empty() ? std::string("-") : where.mx_host) + " ";
        for (const std::string& line : lines) {
            text += prefix + line + "\n";
        }
    }
    return text;
}

Result<ReportPolicies> decode_policies(std::string_view text) {
    std::size_t end = text.find('\n');
    if (text.substr(0, end) != header) {
        return Error{"not a TLS report file (no \"" + std::string(header) + "\" line)", 0,
                     ErrorCode::data_loss};
    }
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ReportPolicies policies;
    while (!text.empty()) {
        end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (auto item = decode_policy_line(line)) {
            merge_policies(policies, ReportPolicies{{item->first, {item->second}}});
        }
    }
    return policies;
}

}  // namespace relay::sts
