// tls_versions.h -- which TLS versions relayd's connections use, for Prometheus (admin/metrics):
// inbound, one count per completed handshake of a client; outbound, one count per recipient
// delivered, by the version of the connection that delivered it ("none": plaintext).
//
// Each worker owns a WorkerTlsVersions and is its only writer (a relaxed load and store, no
// lock, no system call); any thread sums the workers' counts with relaxed loads.
//
// Thread: count_*() on the owning worker only; snapshot() on any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace relay::stats {

// The versions told apart; anything else (an older version a peer negotiated) is "other".
inline constexpr std::array<std::string_view, 4> tls_version_labels = {"TLSv1.3", "TLSv1.2",
                                                                       "other", "none"};

struct TlsVersionCounts {
    std::array<std::uint64_t, tls_version_labels.size()> inbound{};
    std::array<std::uint64_t, tls_version_labels.size()> outbound{};
};

class alignas(64) WorkerTlsVersions {
  public:
    // `version` as tls::Session::protocol_version() names it ("TLSv1.3"); empty: no TLS.
    void count_inbound(std::string_view version);
    void count_outbound(std::string_view version);
    void add_to(TlsVersionCounts& into) const;

  private:
    std::array<std::atomic<std::uint64_t>, tls_version_labels.size()> inbound_{};
    std::array<std::atomic<std::uint64_t>, tls_version_labels.size()> outbound_{};
};

class TlsVersions {
  public:
    explicit TlsVersions(int workers);
    WorkerTlsVersions& worker(int index) { return *workers_[static_cast<std::size_t>(index)]; }
    TlsVersionCounts snapshot() const;

  private:
    std::vector<std::unique_ptr<WorkerTlsVersions>> workers_;
};

}  // namespace relay::stats
