// login_throttle.h -- throttling of failed SMTP AUTH attempts, per client address and per
// username, shared by all workers of the process.
//
// SYNOPSIS
//   auto throttle = LoginThrottle::with_random_key(settings);       // once, at start-up
//   Admission admission = throttle.admit(address, username, now_ms); // before a check
//   throttle.record_failure(address, username, now_ms);              // after a wrong password
//   throttle.record_success(address, username, now_ms);              // after a right one
//
// DESCRIPTION
//   Password guessing must not scale: every failed attempt from an address, or for a username,
//   raises that key's count. From `failures_before_delay` failures on, the next check of the key
//   runs only after a delay that doubles with each further failure, from `failure_delay_ms` up to
//   `failure_delay_ms_max`. From `failures_before_lockout` failures on, attempts are refused
//   without checking the password until `lockout_s` have passed since the last failure. A count
//   is forgotten once `failure_window_s` pass without a failure for it (and not before its
//   lockout ends). After a lockout shorter than the window, one more failure locks out again. A
//   success forgets the username's count (a user who mistyped, then got it right, starts afresh)
//   but not the address's: an attacker who owns one valid login could otherwise clear its address's
//   count between guesses at other usernames.
//
//   How the ingress uses it, in the session's `check_login` hook (which answers later):
//     * `refuse`: reply 454 4.7.0 at once, do not ask the credential store, record nothing (a
//       refusal is not a failure; the lockout ends `lockout_s` after the last real failure).
//       454 is also the reply when logins cannot be checked, so a guesser cannot tell a locked-out
//       username (a sign that someone else guesses it too, or that it exists) from an outage,
//       and a real client treats it as temporary and tries again later instead of prompting its
//       user for a new password.
//     * `check_after_delay`: arm a reactor timer for `delay_ms`, then check; the session holds
//       its input meanwhile (Verdict::later), the worker never sleeps. Parallel connections from
//       one address share the counts, so they do not multiply the guessing rate: at most one
//       check per open connection can slip in between another's admit and record, and
//       limits.connections_per_client_max bounds those.
//     * `check_now`: check.
//     After the check (CredentialVerifier's answer): `record_failure` on LoginOutcome::rejected
//     (an unknown username counts like any other), `record_success` on `accepted`; nothing on
//     `busy` (a full hash pool is not the client's doing).
//
//   Memory is bounded whatever the number of addresses and usernames an attacker uses: one
//   fixed table of `slots` 64-bit atomic words, allocated at construction. A key (an address,
//   or a username) is hashed with SipHash-2-4 under a per-process random key to two slots (a
//   count-min sketch): a failure raises both, the key's state is the milder of the two. Keys
//   sharing a slot only add to each other's counts, so a collision can over-throttle a key,
//   never under-throttle it; with two slots per key, both must collide for a key to suffer.
//   Each slot remembers which single key (a 24-bit tag of its hash) has failed there since the
//   slot was last forgotten, or that several have; a success clears only slots its username
//   owns alone. (Two usernames with the same tag in the same slot, one chance in 2^24 per
//   colliding pair, let one's success clear the other's count there.)
//
//   Nothing secret is kept: no password ever reaches this part, usernames and addresses are
//   hashed and dropped, and the table holds only counts, times and hash bits.
//
//   IPv6 addresses count per /64 (one host usually holds a whole /64, so counting each address
//   would let it try 2^64 times as often); IPv4 addresses, and IPv4-mapped IPv6, per address.
//   Usernames count in ASCII lower case, so that a store that ignores case cannot be guessed at
//   once per spelling.
//
// CONCURRENCY
//   Lock-free: each slot is one atomic word updated with compare-and-swap (relaxed order: the
//   word publishes nothing else). No count is lost to a race; concurrent failures with times
//   out of order keep the latest time. Reads of a key's two slots are not one snapshot, which
//   can only mix two states that each happened.
//
// TIME
//   Every call takes `now_ms` from the caller's clock (any clock in milliseconds that does not
//   go backwards, the same for every call; unix_ms_now() in relayd); nothing reads a clock
//   here. Slots keep times in whole seconds rounded up, so windows and lockouts can end up to a
//   second late, never early.
//
// Untrusted bytes: addresses and usernames (hashed only). Thread: any; never blocks, never
// allocates after construction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "relay/base/result.h"
#include "relay/policy/siphash.h"

namespace relay::policy {

struct LoginThrottleSettings {
    std::uint32_t failures_before_delay = 3;  // 0: no delay
    std::uint32_t failure_delay_ms = 1000;    // the first delay; it doubles from there
    std::uint32_t failure_delay_ms_max = 30000;
    std::uint32_t failures_before_lockout = 10;  // 0: no lockout
    std::uint32_t failure_window_s = 900;        // a count is forgotten after this long quiet
    std::uint32_t lockout_s = 900;               // measured from the last failure
    std::uint32_t slots = 1u << 16;              // a power of two, 1024 to 2^20 (8 bytes each)

    // The largest values the table's fields can represent faithfully (see the .cc).
    static constexpr std::uint32_t failures_max = 200;
    static constexpr std::uint32_t delay_ms_limit = 3600 * 1000;
    static constexpr std::uint32_t slots_min = 1024;
    static constexpr std::uint32_t slots_max = 1u << 20;
};

struct Admission {
    enum class Kind : std::uint8_t { check_now, check_after_delay, refuse };
    Kind kind = Kind::check_now;
    std::uint64_t delay_ms = 0;          // check_after_delay: wait this long, then check
    std::uint64_t refused_until_ms = 0;  // refuse: when the lockout ends (the caller's clock)

    static Admission check_now() { return {}; }
    static Admission check_after_delay(std::uint64_t delay_ms) {
        return {Kind::check_after_delay, delay_ms, 0};
    }
    static Admission refuse(std::uint64_t until_ms) { return {Kind::refuse, 0, until_ms}; }
    bool operator==(const Admission&) const = default;
};

// Whether `a` holds a client back at least as much as `b` at the same moment: check_now, then
// longer delays, then later lockout ends.
bool at_least_as_strict(const Admission& a, const Admission& b);

class LoginThrottle {
  public:
    // The hash key comes from getrandom(2); fails only if the kernel cannot give one.
    static Result<std::unique_ptr<LoginThrottle>> with_random_key(
        const LoginThrottleSettings& settings);
    // A fixed key, for tests. `settings` must be within the bounds above (asserted).
    LoginThrottle(const LoginThrottleSettings& settings, const internal::SipHashKey& key);

    LoginThrottle(const LoginThrottle&) = delete;
    LoginThrottle& operator=(const LoginThrottle&) = delete;

    // An empty username (not known yet) consults the address alone.
    Admission admit(std::string_view client_address, std::string_view username,
                    std::uint64_t now_ms) const;
    void record_failure(std::string_view client_address, std::string_view username,
                        std::uint64_t now_ms);
    void record_success(std::string_view client_address, std::string_view username,
                        std::uint64_t now_ms);

    const LoginThrottleSettings& settings() const { return settings_; }

  private:
    struct Place {
        std::uint32_t slot_indexes[2];
        std::uint32_t tag;
    };
    Place place_of_address(std::string_view client_address) const;
    Place place_of_username(std::string_view username) const;
    Place place_of(std::uint64_t hash) const;
    Admission admit_key(const Place& place, std::uint64_t now_ms) const;
    std::uint64_t forgotten_at_ms(std::uint32_t time_s, std::uint32_t count) const;
    Admission admit_slot(std::uint64_t word, std::uint64_t now_ms) const;
    void fail_slot(std::atomic<std::uint64_t>& slot, std::uint32_t tag, std::uint64_t now_ms);
    void forget_slot(std::atomic<std::uint64_t>& slot, std::uint32_t tag);

    const LoginThrottleSettings settings_;
    const internal::SipHashKey key_;
    const std::uint32_t slot_mask_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
};

}  // namespace relay::policy
