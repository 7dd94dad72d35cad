// stats.h -- what loadgen counts and measures, and the summary it prints.
//
// Each worker owns one Stats and updates it without locks; main merges them after the workers
// have ended. Latencies go into a log-linear histogram of fixed size (about 0.1% resolution), so
// a run of any length uses the same memory.
// Untrusted bytes: none (reply codes are checked before they get here). Threads: one owner each.
// Must never: allocate or lock on the hot path.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

class Histogram {
  public:
    Histogram();
    void record(std::uint64_t value_us);
    void merge(const Histogram& other);
    std::uint64_t count() const { return count_; }
    std::uint64_t max_us() const { return max_us_; }
    // The value at or below which `fraction` (0..1) of the samples lie, in microseconds.
    std::uint64_t percentile_us(double fraction) const;

  private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t max_us_ = 0;
};

struct Stats {
    // Messages. attempted = accepted + rejected (temporary, permanent) + lost.
    std::uint64_t attempted = 0;
    std::uint64_t accepted = 0;
    std::uint64_t accepted_bytes = 0;
    std::uint64_t lost = 0;  // the connection failed before the final reply
    std::array<std::uint64_t, 200> rejected_by_code{};  // index: reply code - 400
    std::uint64_t recipients_rejected = 0;              // single RCPTs refused
    std::uint64_t sent_with_data = 0;  // transactions started, by the way the content goes
    std::uint64_t sent_with_bdat = 0;
    std::uint64_t sent_pipelined = 0;

    // Connections.
    std::uint64_t connections = 0;  // reached the point of sending mail (EHLO/HELO done)
    std::uint64_t connect_errors = 0;
    std::uint64_t greetings_refused = 0;  // anything but 220 at connect, or EHLO and HELO refused
    std::uint64_t dropped = 0;            // closed or reset by the server mid-session
    std::uint64_t timeouts = 0;
    std::uint64_t protocol_errors = 0;
    std::uint64_t closed_by_server = 0;  // 421 replies
    std::uint64_t tls_failures = 0;      // STARTTLS refused or a failed handshake
    std::uint64_t auth_refused = 0;      // AUTH answered with anything but 235
    std::uint64_t completed = 0;         // QUIT answered with 221

    std::uint64_t record_errors = 0;  // --record or --dump-dir writes that failed

    Histogram accept_latency;   // MAIL FROM sent .. final reply after the data
    Histogram connect_latency;  // connect() .. ready for MAIL (EHLO, or STARTTLS and AUTH)
    Histogram session_latency;  // connect() .. the reply to QUIT

    void merge(const Stats& other);
    std::uint64_t rejected(int first_digit) const;
};

struct RunDescription {
    std::string server;
    std::uint32_t sessions = 0;
    std::uint32_t threads = 0;
    std::uint64_t size_bytes = 0;
    std::uint32_t messages_per_connection = 0;
    bool pipelining = false;
    bool bdat = false;
    bool starttls = false;
    bool auth = false;
    bool gave_up = false;
    bool interrupted = false;
};

void print_text(const RunDescription& run, const Stats& stats, double elapsed_s);
void print_json(const RunDescription& run, const Stats& stats, double elapsed_s);

}  // namespace loadgen
