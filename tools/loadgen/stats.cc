// stats.cc -- latency histogram, merging of worker counters, text and JSON summaries.
//
// Untrusted bytes: none. Threads: workers record into their own Stats; main merges and prints.
// The histogram keeps values below 2048 us exactly and 1024 buckets per power of two above, up
// to 2^40 us; larger values land in the last bucket.
#include "stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace loadgen {
namespace {

constexpr int sub_bucket_bits = 10;
constexpr std::uint64_t sub_buckets = 1ULL << sub_bucket_bits;
constexpr std::uint64_t exact_limit = 2 * sub_buckets;
constexpr int exponent_max = 40 - sub_bucket_bits;
constexpr std::size_t bucket_count = exact_limit + exponent_max * sub_buckets;

std::size_t bucket_of(std::uint64_t value) {
    if (value < exact_limit) {
        return value;
    }
    int exponent = std::bit_width(value) - 1 - sub_bucket_bits;
    if (exponent > exponent_max) {
        return bucket_count - 1;
    }
    std::uint64_t sub = (value >> exponent) - sub_buckets;
    return exact_limit + (exponent - 1) * sub_buckets + sub;
}

// The middle of the bucket's range.
std::uint64_t value_of(std::size_t bucket) {
    if (bucket < exact_limit) {
        return bucket;
    }
    std::uint64_t exponent = (bucket - exact_limit) / sub_buckets + 1;
    std::uint64_t sub = (bucket - exact_limit) % sub_buckets + sub_buckets;
    return (sub << exponent) + (1ULL << exponent) / 2;
}

double ms(std::uint64_t us) {
    return static_cast<double>(us) / 1000.0;
}

nlohmann::json latency_json(const Histogram& histogram) {
    return {{"samples", histogram.count()},
            {"p50_ms", ms(histogram.percentile_us(0.50))},
            {"p90_ms", ms(histogram.percentile_us(0.90))},
            {"p99_ms", ms(histogram.percentile_us(0.99))},
            {"max_ms", ms(histogram.max_us())}};
}

std::string latency_text(const Histogram& histogram) {
    if (histogram.count() == 0) {
        return "no samples";
    }
    return fmt::format("p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  max {:.3f}  ({} samples)",
                       ms(histogram.percentile_us(0.50)), ms(histogram.percentile_us(0.90)),
                       ms(histogram.percentile_us(0.99)), ms(histogram.max_us()),
                       histogram.count());
}

std::string codes_text(const Stats& stats) {
    std::string text;
    for (std::size_t i = 0; i < stats.rejected_by_code.size(); ++i) {
        if (stats.rejected_by_code[i] != 0) {
            text += fmt::format("{}{}: {}", text.empty() ? "" : ", ", i + 400,
                                stats.rejected_by_code[i]);
        }
    }
    return text;
}

std::string reuse_text(std::uint32_t messages_per_connection) {
    if (messages_per_connection == 0) {
        return "connections reused without limit";
    }
    return fmt::format("{} message{} per connection", messages_per_connection,
                       messages_per_connection == 1 ? "" : "s");
}

}  // namespace

Histogram::Histogram() : counts_(bucket_count, 0) {}

void Histogram::record(std::uint64_t value_us) {
    ++counts_[bucket_of(value_us)];
    ++count_;
    max_us_ = std::max(max_us_, value_us);
}

void Histogram::merge(const Histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    max_us_ = std::max(max_us_, other.max_us_);
}

std::uint64_t Histogram::percentile_us(double fraction) const {
    if (count_ == 0) {
        return 0;
    }
    auto wanted = static_cast<std::uint64_t>(std::llround(fraction * static_cast<double>(count_)));
    wanted = std::clamp<std::uint64_t>(wanted, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= wanted) {
            return std::min(value_of(i), max_us_);
        }
    }
    return max_us_;
}

void Stats::merge(const Stats& other) {
    attempted += other.attempted;
    accepted += other.accepted;
    accepted_bytes += other.accepted_bytes;
    lost += other.lost;
    for (std::size_t i = 0; i < rejected_by_code.size(); ++i) {
        rejected_by_code[i] += other.rejected_by_code[i];
    }
    recipients_rejected += other.recipients_rejected;
    sent_with_data += other.sent_with_data;
    sent_with_bdat += other.sent_with_bdat;
    sent_pipelined += other.sent_pipelined;
    connections += other.connections;
    connect_errors += other.connect_errors;
    greetings_refused += other.greetings_refused;
    dropped += other.dropped;
    timeouts += other.timeouts;
    protocol_errors += other.protocol_errors;
    closed_by_server += other.closed_by_server;
    tls_failures += other.tls_failures;
    auth_refused += other.auth_refused;
    completed += other.completed;
    record_errors += other.record_errors;
    accept_latency.merge(other.accept_latency);
    connect_latency.merge(other.connect_latency);
    session_latency.merge(other.session_latency);
}

std::uint64_t Stats::rejected(int first_digit) const {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < rejected_by_code.size(); ++i) {
        if (static_cast<int>((i + 400) / 100) == first_digit) {
            sum += rejected_by_code[i];
        }
    }
    return sum;
}

void print_text(const RunDescription& run, const Stats& s, double elapsed_s) {
    std::string out = fmt::format(
        "loadgen {}: {} session{}, {} thread{}, {} bytes per message, {}\n", run.server,
        run.sessions, run.sessions == 1 ? "" : "s", run.threads, run.threads == 1 ? "" : "s",
        run.size_bytes, reuse_text(run.messages_per_connection));
    out += fmt::format(
        "messages     {} attempted: {} accepted, {} temporarily rejected, {} permanently "
        "rejected, {} lost\n",
        s.attempted, s.accepted, s.rejected(4), s.rejected(5), s.lost);
    if (s.rejected(4) + s.rejected(5) != 0) {
        out += fmt::format("rejected     by code: {}\n", codes_text(s));
    }
    out += fmt::format("transfer     {} DATA, {} BDAT, {} pipelined, {} recipients rejected\n",
                       s.sent_with_data, s.sent_with_bdat, s.sent_pipelined, s.recipients_rejected);
    out += fmt::format(
        "connections  {} opened, {} connect errors, {} greetings refused, {} dropped, {} "
        "timeouts, {} protocol errors, {} closed by server (421)\n",
        s.connections, s.connect_errors, s.greetings_refused, s.dropped, s.timeouts,
        s.protocol_errors, s.closed_by_server);
    double rate = elapsed_s > 0 ? static_cast<double>(s.accepted) / elapsed_s : 0;
    double megabytes = elapsed_s > 0 ? static_cast<double>(s.accepted_bytes) / elapsed_s / 1e6 : 0;
    out += fmt::format("elapsed      {:.3f} s\n", elapsed_s);
    out += fmt::format("throughput   {:.1f} messages/s, {:.2f} MB/s accepted\n", rate, megabytes);
    out += fmt::format("accept ms    {}\n", latency_text(s.accept_latency));
    out += fmt::format("connect ms   {}\n", latency_text(s.connect_latency));
    if (run.starttls || run.auth) {
        double per_s = elapsed_s > 0 ? static_cast<double>(s.completed) / elapsed_s : 0;
        out += fmt::format(
            "submission   {}{}: {} connections completed (QUIT answered), {:.1f} connections/s, "
            "{} TLS failures, {} logins refused\n",
            run.starttls ? "STARTTLS" : "",
            run.starttls && run.auth ? " + AUTH" : (run.auth ? "AUTH" : ""), s.completed, per_s,
            s.tls_failures, s.auth_refused);
        out += fmt::format("session ms   {}\n", latency_text(s.session_latency));
    }
    if (s.record_errors != 0) {
        out += fmt::format("records      {} writes failed\n", s.record_errors);
    }
    if (run.gave_up) {
        out += "stopped      the server refused connections for longer than --give-up-ms\n";
    }
    if (run.interrupted) {
        out += "stopped      interrupted by a signal\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
}

void print_json(const RunDescription& run, const Stats& s, double elapsed_s) {
    nlohmann::json temporary = nlohmann::json::object();
    nlohmann::json permanent = nlohmann::json::object();
    for (std::size_t i = 0; i < s.rejected_by_code.size(); ++i) {
        if (s.rejected_by_code[i] != 0) {
            (i < 100 ? temporary : permanent)[std::to_string(i + 400)] = s.rejected_by_code[i];
        }
    }
    double rate = elapsed_s > 0 ? static_cast<double>(s.accepted) / elapsed_s : 0;
    double megabytes = elapsed_s > 0 ? static_cast<double>(s.accepted_bytes) / elapsed_s / 1e6 : 0;
    nlohmann::json summary = {
        {"server", run.server},
        {"sessions", run.sessions},
        {"threads", run.threads},
        {"size_bytes", run.size_bytes},
        {"messages_per_connection", run.messages_per_connection},
        {"messages",
         {{"attempted", s.attempted},
          {"accepted", s.accepted},
          {"temporarily_rejected", s.rejected(4)},
          {"permanently_rejected", s.rejected(5)},
          {"lost", s.lost},
          {"temporarily_rejected_by_code", temporary},
          {"permanently_rejected_by_code", permanent},
          {"recipients_rejected", s.recipients_rejected},
          {"sent_with_data", s.sent_with_data},
          {"sent_with_bdat", s.sent_with_bdat},
          {"sent_pipelined", s.sent_pipelined}}},
        {"connections",
         {{"opened", s.connections},
          {"connect_errors", s.connect_errors},
          {"greetings_refused", s.greetings_refused},
          {"dropped", s.dropped},
          {"timeouts", s.timeouts},
          {"protocol_errors", s.protocol_errors},
          {"closed_by_server", s.closed_by_server},
          {"tls_failures", s.tls_failures},
          {"auth_refused", s.auth_refused},
          {"completed", s.completed}}},
        {"elapsed_s", elapsed_s},
        {"messages_per_s", rate},
        {"megabytes_per_s", megabytes},
        {"accept_latency", latency_json(s.accept_latency)},
        {"connect_latency", latency_json(s.connect_latency)},
        {"starttls", run.starttls},
        {"auth", run.auth},
        {"connections_per_s", elapsed_s > 0 ? static_cast<double>(s.completed) / elapsed_s : 0},
        {"session_latency", latency_json(s.session_latency)},
        {"record_errors", s.record_errors},
        {"gave_up", run.gave_up},
        {"interrupted", run.interrupted},
    };
    std::string text = summary.dump(2) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

}  // namespace loadgen
