// login_throttle.cc -- the throttle's slot table (see login_throttle.h for the behaviour).
//
// A slot is one 64-bit word, so that one compare-and-swap updates it whole:
//   bits  0-31  time of the latest failure, in seconds rounded up (the caller's clock)
//   bits 32-39  failures counted, saturating at 255; 0: the slot is empty
//   bits 40-63  the tag of the one key that failed here since the slot was last empty, or 0
//               when several keys did
// Saturation cannot weaken a verdict: thresholds are at most 200 (below 255), and from 200
// failures on the delay is failure_delay_ms (>= 1) times 2^31 at least, above any allowed
// maximum delay.
#include "relay/policy/login_throttle.h"

#include <arpa/inet.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>

namespace relay::policy {
namespace {

constexpr std::uint64_t count_max = 255;
constexpr std::uint32_t index_bits = 20;
constexpr std::uint32_t tag_shift = 40;
constexpr std::uint32_t shared_tag = 0;

static_assert(LoginThrottleSettings::failures_max < count_max);
static_assert(LoginThrottleSettings::slots_max == 1u << index_bits);
static_assert(2 * index_bits <= tag_shift);
static_assert((std::uint64_t{1} << 31) > LoginThrottleSettings::delay_ms_limit);

struct Slot {
    std::uint32_t time_s = 0;
    std::uint32_t count = 0;
    std::uint32_t tag = shared_tag;

    static Slot decode(std::uint64_t word) {
        return {static_cast<std::uint32_t>(word), static_cast<std::uint32_t>((word >> 32) & 0xff),
                static_cast<std::uint32_t>(word >> tag_shift)};
    }
    std::uint64_t encode() const {
        return std::uint64_t{time_s} | (std::uint64_t{count} << 32) |
               (std::uint64_t{tag} << tag_shift);
    }
};

std::uint32_t seconds_rounded_up(std::uint64_t now_ms) {
    const std::uint64_t seconds = (now_ms + 999) / 1000;
    RELAY_ASSERT(seconds <= UINT32_MAX);  // a clock past 2106, or not in milliseconds
    return static_cast<std::uint32_t>(seconds);
}

// Keys are kind-prefixed, so that an address and a username with the same bytes differ.
std::uint64_t hash_address(const internal::SipHashKey& key, std::string_view client_address) {
    internal::SipHasher hasher(key);
    std::array<char, 64> text{};  // longer than any IP address (INET6_ADDRSTRLEN is 46)
    std::array<unsigned char, 16> binary{};
    if (client_address.size() < text.size()) {
        std::copy(client_address.begin(), client_address.end(), text.begin());
        const auto bytes = [&binary](std::size_t offset, std::size_t size) {
            return std::string_view(reinterpret_cast<const char*>(binary.data()) + offset, size);
        };
        if (inet_pton(AF_INET, text.data(), binary.data()) == 1) {
            hasher.update("4");
            hasher.update(bytes(0, 4));
            return hasher.finish();
        }
        if (inet_pton(AF_INET6, text.data(), binary.data()) == 1) {
            static constexpr std::array<unsigned char, 12> mapped_prefix = {0, 0, 0, 0, 0,    0,
                                                                            0, 0, 0, 0, 0xff, 0xff};
            const bool mapped =
                std::equal(mapped_prefix.begin(), mapped_prefix.end(), binary.begin());
            hasher.update(mapped ? "4" : "6");
            hasher.update(mapped ? bytes(12, 4) : bytes(0, 8));
            return hasher.finish();
        }
    }
    hasher.update("a");  // not an IP address (a test, a unix socket): the text itself
    hasher.update(client_address);
    return hasher.finish();
}

std::uint64_t hash_username(const internal::SipHashKey& key, std::string_view username) {
    internal::SipHasher hasher(key);
    hasher.update("u");
    std::array<char, 64> lower{};
    for (std::size_t offset = 0; offset < username.size(); offset += lower.size()) {
        const std::string_view piece = username.substr(offset, lower.size());
        std::transform(piece.begin(), piece.end(), lower.begin(), [](char c) {
            return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        });
        hasher.update(std::string_view(lower.data(), piece.size()));
    }
    return hasher.finish();
}

void check_settings(const LoginThrottleSettings& settings) {
    using S = LoginThrottleSettings;
    RELAY_ASSERT(settings.failures_before_delay <= S::failures_max);
    RELAY_ASSERT(settings.failures_before_lockout <= S::failures_max);
    RELAY_ASSERT(settings.failure_delay_ms <= S::delay_ms_limit);
    RELAY_ASSERT(settings.failure_delay_ms_max <= S::delay_ms_limit);
    RELAY_ASSERT(settings.failure_window_s >= 1);
    RELAY_ASSERT(settings.slots >= S::slots_min && settings.slots <= S::slots_max);
    RELAY_ASSERT(std::has_single_bit(settings.slots));
}

}  // namespace

bool at_least_as_strict(const Admission& a, const Admission& b) {
    if (a.kind != b.kind) {
        return a.kind > b.kind;
    }
    switch (a.kind) {
        case Admission::Kind::check_now:
            return true;
        case Admission::Kind::check_after_delay:
            return a.delay_ms >= b.delay_ms;
        case Admission::Kind::refuse:
            return a.refused_until_ms >= b.refused_until_ms;
    }
    return true;
}

Result<std::unique_ptr<LoginThrottle>> LoginThrottle::with_random_key(
    const LoginThrottleSettings& settings) {
    internal::SipHashKey key{};
    if (getrandom(key.data(), key.size(), 0) != static_cast<ssize_t>(key.size())) {
        return system_error("cannot get a random key for the login throttle", errno);
    }
    return std::make_unique<LoginThrottle>(settings, key);
}

LoginThrottle::LoginThrottle(const LoginThrottleSettings& settings, const internal::SipHashKey& key)
    : settings_(settings),
      key_(key),
      slot_mask_(settings.slots - 1),
      slots_(std::make_unique<std::atomic<std::uint64_t>[]>(settings.slots)) {
    check_settings(settings);
}

// A count is forgotten after a quiet window, but never while it still locks its keys out: a
// failure of another key sharing the slot must not end a lockout early.
std::uint64_t LoginThrottle::forgotten_at_ms(std::uint32_t time_s, std::uint32_t count) const {
    std::uint64_t quiet_s = settings_.failure_window_s;
    if (settings_.failures_before_lockout != 0 && count >= settings_.failures_before_lockout) {
        quiet_s = std::max<std::uint64_t>(quiet_s, settings_.lockout_s);
    }
    return (std::uint64_t{time_s} + quiet_s) * 1000;
}

LoginThrottle::Place LoginThrottle::place_of(std::uint64_t hash) const {
    Place place{};
    place.slot_indexes[0] = static_cast<std::uint32_t>(hash) & slot_mask_;
    place.slot_indexes[1] = static_cast<std::uint32_t>(hash >> index_bits) & slot_mask_;
    if (place.slot_indexes[1] == place.slot_indexes[0]) {
        // One slot counted twice would double every failure of the key.
        place.slot_indexes[1] ^= 1;
    }
    place.tag = static_cast<std::uint32_t>(hash >> tag_shift);
    if (place.tag == shared_tag) {
        place.tag = 1;
    }
    return place;
}

LoginThrottle::Place LoginThrottle::place_of_address(std::string_view client_address) const {
    return place_of(hash_address(key_, client_address));
}

LoginThrottle::Place LoginThrottle::place_of_username(std::string_view username) const {
    return place_of(hash_username(key_, username));
}

Admission LoginThrottle::admit_slot(std::uint64_t word, std::uint64_t now_ms) const {
    const Slot slot = Slot::decode(word);
    if (slot.count == 0) {
        return Admission::check_now();
    }
    const std::uint64_t last_ms = std::uint64_t{slot.time_s} * 1000;
    if (settings_.failures_before_lockout != 0 && slot.count >= settings_.failures_before_lockout) {
        const std::uint64_t until_ms = last_ms + std::uint64_t{settings_.lockout_s} * 1000;
        if (now_ms < until_ms) {
            return Admission::refuse(until_ms);
        }
    }
    if (now_ms >= forgotten_at_ms(slot.time_s, slot.count) ||
        settings_.failures_before_delay == 0 || slot.count < settings_.failures_before_delay ||
        settings_.failure_delay_ms == 0) {
        return Admission::check_now();
    }
    const std::uint32_t doublings = std::min(slot.count - settings_.failures_before_delay, 31u);
    const std::uint64_t delay_ms = std::min<std::uint64_t>(
        std::uint64_t{settings_.failure_delay_ms} << doublings, settings_.failure_delay_ms_max);
    return delay_ms == 0 ? Admission::check_now() : Admission::check_after_delay(delay_ms);
}

Admission LoginThrottle::admit_key(const Place& place, std::uint64_t now_ms) const {
    // Each slot over-counts the key (other keys add to it), so the milder verdict is the closer.
    const Admission first =
        admit_slot(slots_[place.slot_indexes[0]].load(std::memory_order_relaxed), now_ms);
    const Admission second =
        admit_slot(slots_[place.slot_indexes[1]].load(std::memory_order_relaxed), now_ms);
    return at_least_as_strict(first, second) ? second : first;
}

Admission LoginThrottle::admit(std::string_view client_address, std::string_view username,
                               std::uint64_t now_ms) const {
    const Admission by_address = admit_key(place_of_address(client_address), now_ms);
    if (username.empty()) {
        return by_address;
    }
    const Admission by_username = admit_key(place_of_username(username), now_ms);
    return at_least_as_strict(by_address, by_username) ? by_address : by_username;
}

void LoginThrottle::fail_slot(std::atomic<std::uint64_t>& slot, std::uint32_t tag,
                              std::uint64_t now_ms) {
    const std::uint32_t now_s = seconds_rounded_up(now_ms);
    std::uint64_t word = slot.load(std::memory_order_relaxed);
    Slot next;
    do {
        const Slot old = Slot::decode(word);
        if (old.count == 0 || now_ms >= forgotten_at_ms(old.time_s, old.count)) {
            next = Slot{now_s, 1, tag};  // what the slot counted is forgotten: it starts afresh
        } else {
            next =
                Slot{std::max(old.time_s, now_s),
                     static_cast<std::uint32_t>(std::min<std::uint64_t>(old.count + 1, count_max)),
                     old.tag == tag ? tag : shared_tag};
        }
    } while (!slot.compare_exchange_weak(word, next.encode(), std::memory_order_relaxed));
}

void LoginThrottle::forget_slot(std::atomic<std::uint64_t>& slot, std::uint32_t tag) {
    std::uint64_t word = slot.load(std::memory_order_relaxed);
    do {
        const Slot old = Slot::decode(word);
        if (old.count == 0 || old.tag != tag) {
            return;  // empty, or other keys' failures are counted here too
        }
    } while (!slot.compare_exchange_weak(word, 0, std::memory_order_relaxed));
}

void LoginThrottle::record_failure(std::string_view client_address, std::string_view username,
                                   std::uint64_t now_ms) {
    const Place address = place_of_address(client_address);
    for (std::uint32_t index : address.slot_indexes) {
        fail_slot(slots_[index], address.tag, now_ms);
    }
    if (username.empty()) {
        return;
    }
    const Place user = place_of_username(username);
    for (std::uint32_t index : user.slot_indexes) {
        fail_slot(slots_[index], user.tag, now_ms);
    }
}

void LoginThrottle::record_success(std::string_view /*client_address*/, std::string_view username,
                                   std::uint64_t /*now_ms*/) {
    if (username.empty()) {
        return;
    }
    const Place user = place_of_username(username);
    for (std::uint32_t index : user.slot_indexes) {
        forget_slot(slots_[index], user.tag);
    }
}

}  // namespace relay::policy
