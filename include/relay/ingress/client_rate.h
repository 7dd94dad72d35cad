// client_rate.h -- the rate of new connections per client address, all workers together: at
// most `per_minute` accepted from one address in any 60 seconds (limits.
// connections_per_client_per_minute).
//
// SYNOPSIS
//   ClientRate rate(60);                       // at start-up; 0: off
//   if (!rate.admit(client_ip, now_ms)) ...    // at accept: 421 4.7.0 and close
//
// DESCRIPTION
//   A fixed table of `entries` entries, each `per_minute` slots of "free at" times, exactly as
//   a resource's message budget (policy/resource_rate.h): a connection takes a due slot with a
//   compare-and-swap and holds it for 60 s, so no minute holds more than `per_minute`
//   connections of the addresses of one entry. An address always maps to the same entry (a
//   hash), so it never gets more than `per_minute` in any minute; exactly that many while no
//   other address of its entry connects too. Two addresses share an entry with probability
//   1/entries (about 0.05 colliding pairs among 20 active addresses): they then share one
//   budget, which can only refuse early, never admit more. No keys, no reclaiming, nothing
//   that could let an address escape its count.
//
// Memory: entries * per_minute * 8 bytes, allocated at construction (2 MB at 60 a minute).
// Thread: any; lock-free, never blocks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace relay::ingress {

class ClientRate {
  public:
    static constexpr std::uint32_t entries = 4096;
    static constexpr std::int64_t window_ms = 60'000;

    explicit ClientRate(std::uint32_t per_minute);
    ClientRate(const ClientRate&) = delete;
    ClientRate& operator=(const ClientRate&) = delete;

    std::uint32_t per_minute() const { return per_minute_; }
    // Counts a new connection from `client_ip` at `now_ms` (a monotonic clock in ms); false if
    // its entry already had `per_minute` in the last minute (it is then not counted).
    [[nodiscard]] bool admit(std::string_view client_ip, std::int64_t now_ms);

  private:
    std::uint32_t per_minute_;
    std::unique_ptr<std::atomic<std::int64_t>[]> slots_;
};

}  // namespace relay::ingress
