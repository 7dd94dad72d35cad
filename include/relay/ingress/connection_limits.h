// connection_limits.h -- the connection counts shared by all workers: total and per client IP.
//
// Checked once per accepted connection, never on the data path. The per-IP table is split into
// stripes by a hash of the address, each with its own small mutex, so that two workers
// accepting at the same moment rarely meet. The rate of new connections per address
// (client_rate.h) is lock-free and counts admitted connections only.
//
// Thread: any.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "relay/ingress/client_rate.h"

namespace relay::ingress {

class ConnectionLimits {
  public:
    ConnectionLimits(std::uint32_t total_max, std::uint32_t per_client_max)
        : total_max_(total_max), per_client_max_(per_client_max) {}

    enum class Admission {
        admitted,
        too_many_total,
        too_many_from_client,
        too_many_per_minute_from_client
    };
    // On `admitted` the caller must call `release` with the same IP when the connection ends.
    Admission admit(const std::string& client_ip);
    void release(const std::string& client_ip);
    std::uint32_t total() const { return total_.load(std::memory_order_relaxed); }
    // A reloaded configuration: later admissions use the new maximums; connections already
    // admitted above them stay open.
    void set_maximums(std::uint32_t total_max, std::uint32_t per_client_max) {
        total_max_.store(total_max, std::memory_order_relaxed);
        per_client_max_.store(per_client_max, std::memory_order_relaxed);
    }

    // At start-up, before any admit: at most `per_minute` new connections from one address in
    // any minute (0: no limit). Not changed by a reload (the table is sized for it).
    void limit_client_rate(std::uint32_t per_minute) {
        client_rate_ = std::make_unique<ClientRate>(per_minute);
    }

  private:
    static constexpr std::size_t stripes = 64;
    struct Stripe {
        std::mutex mutex;
        std::unordered_map<std::string, std::uint32_t> counts;
    };
    Stripe& stripe_for(const std::string& client_ip);
    Admission admit_counts(const std::string& client_ip);

    std::atomic<std::uint32_t> total_max_;
    std::atomic<std::uint32_t> per_client_max_;
    std::atomic<std::uint32_t> total_{0};
    std::array<Stripe, stripes> stripes_;
    std::unique_ptr<ClientRate> client_rate_;
};

}  // namespace relay::ingress
