// The login throttle's behaviour on a clock the test sets: delays, lockouts, forgetting, what a
// success clears, and which addresses and usernames count as one.
#include "relay/policy/login_throttle.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using relay::policy::Admission;
using relay::policy::LoginThrottle;
using relay::policy::LoginThrottleSettings;

constexpr std::uint64_t start_ms = 1'780'000'000'000;  // a whole second, as a unix time in ms

LoginThrottleSettings example_settings() {
    LoginThrottleSettings settings;
    settings.failures_before_delay = 3;
    settings.failure_delay_ms = 1000;
    settings.failure_delay_ms_max = 8000;
    settings.failures_before_lockout = 8;
    settings.failure_window_s = 600;
    settings.lockout_s = 900;
    return settings;
}

relay::policy::internal::SipHashKey fixed_key() {
    relay::policy::internal::SipHashKey key{};
    key[0] = 42;
    return key;
}

void fail_times(LoginThrottle& throttle, std::string_view address, std::string_view username,
                int times, std::uint64_t now_ms) {
    for (int index = 0; index < times; ++index) {
        throttle.record_failure(address, username, now_ms);
    }
}

TEST(LoginThrottle, DelaysDoubleAfterTheFreeFailuresThenLockOut) {
    LoginThrottle throttle(example_settings(), fixed_key());
    std::uint64_t now_ms = start_ms;
    const Admission expected[] = {
        Admission::check_now(),  // no failure yet
        Admission::check_now(),
        Admission::check_now(),
        Admission::check_after_delay(1000),  // after 3 failures
        Admission::check_after_delay(2000),
        Admission::check_after_delay(4000),
        Admission::check_after_delay(8000),
        Admission::check_after_delay(8000),  // the maximum
    };
    for (const Admission& admission : expected) {
        EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", now_ms), admission);
        throttle.record_failure("192.0.2.7", "demo/main", now_ms);
        now_ms += 10'000;
    }
    // The 8th failure was at start + 70 s: locked out until 900 s after it.
    const std::uint64_t last_failure_ms = now_ms - 10'000;
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", now_ms),
              Admission::refuse(last_failure_ms + 900'000));
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", last_failure_ms + 899'999).kind,
              Admission::Kind::refuse);
    // When the lockout ends the count is forgotten (the lockout outlasts the window).
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", last_failure_ms + 900'000),
              Admission::check_now());
}

TEST(LoginThrottle, OneMoreFailureLocksOutAgainWhenTheLockoutIsShorterThanTheWindow) {
    LoginThrottleSettings settings = example_settings();
    settings.lockout_s = 60;
    LoginThrottle throttle(settings, fixed_key());
    fail_times(throttle, "192.0.2.7", "demo/main", 8, start_ms);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 59'000).kind,
              Admission::Kind::refuse);
    // The lockout is over but the window is not: the next check is delayed, not free.
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 60'000),
              Admission::check_after_delay(8000));
    throttle.record_failure("192.0.2.7", "demo/main", start_ms + 61'000);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 62'000),
              Admission::refuse(start_ms + 121'000));
}

TEST(LoginThrottle, CountsAreForgottenAfterAQuietWindow) {
    LoginThrottle throttle(example_settings(), fixed_key());
    fail_times(throttle, "192.0.2.7", "demo/main", 5, start_ms);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 599'000).kind,
              Admission::Kind::check_after_delay);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 600'000), Admission::check_now());
    // A failure after the window starts a new count from one.
    throttle.record_failure("192.0.2.7", "demo/main", start_ms + 600'000);
    fail_times(throttle, "192.0.2.7", "demo/main", 1, start_ms + 601'000);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 602'000), Admission::check_now());
}

TEST(LoginThrottle, FailuresInsideTheWindowKeepItOpen) {
    LoginThrottle throttle(example_settings(), fixed_key());
    // One guess every 500 s never leaves a 600 s gap: the count keeps growing to a lockout.
    for (int index = 0; index < 8; ++index) {
        throttle.record_failure("192.0.2.7", "demo/main", start_ms + index * 500'000);
    }
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 3'600'000).kind,
              Admission::Kind::refuse);
}

TEST(LoginThrottle, AUsernameIsThrottledWhateverAddressesGuessAtIt) {
    LoginThrottle throttle(example_settings(), fixed_key());
    for (int index = 0; index < 8; ++index) {
        throttle.record_failure("198.51.100." + std::to_string(index), "demo/main", start_ms);
    }
    EXPECT_EQ(throttle.admit("203.0.113.9", "demo/main", start_ms + 1000).kind,
              Admission::Kind::refuse);
    EXPECT_EQ(throttle.admit("203.0.113.9", "demo/other", start_ms + 1000), Admission::check_now());
}

TEST(LoginThrottle, AnAddressIsThrottledWhateverUsernamesItTries) {
    LoginThrottle throttle(example_settings(), fixed_key());
    for (int index = 0; index < 8; ++index) {
        throttle.record_failure("192.0.2.7", "guess/" + std::to_string(index), start_ms);
    }
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 1000).kind,
              Admission::Kind::refuse);
    // Before the username is known (AUTH LOGIN's first step), the address alone decides.
    EXPECT_EQ(throttle.admit("192.0.2.7", "", start_ms + 1000).kind, Admission::Kind::refuse);
    EXPECT_EQ(throttle.admit("192.0.2.8", "demo/main", start_ms + 1000), Admission::check_now());
}

TEST(LoginThrottle, ASuccessForgetsTheUsernameButNotTheAddress) {
    LoginThrottle throttle(example_settings(), fixed_key());
    fail_times(throttle, "192.0.2.7", "demo/main", 5, start_ms);
    throttle.record_success("192.0.2.7", "demo/main", start_ms + 1000);
    EXPECT_EQ(throttle.admit("192.0.2.9", "demo/main", start_ms + 2000), Admission::check_now());
    // The address still carries its five failures: its next check is delayed.
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 2000),
              Admission::check_after_delay(4000));
}

TEST(LoginThrottle, ASuccessDoesNotLiftALockoutOfItsAddress) {
    LoginThrottle throttle(example_settings(), fixed_key());
    fail_times(throttle, "192.0.2.7", "victim/main", 8, start_ms);
    throttle.record_success("192.0.2.7", "attacker/main", start_ms + 1000);
    EXPECT_EQ(throttle.admit("192.0.2.7", "victim/main", start_ms + 2000).kind,
              Admission::Kind::refuse);
}

TEST(LoginThrottle, AnIpv6HostCountsAsItsSlash64) {
    LoginThrottle throttle(example_settings(), fixed_key());
    for (int index = 0; index < 8; ++index) {
        throttle.record_failure("2001:db8:1:2::" + std::to_string(index + 1),
                                "guess/" + std::to_string(index), start_ms);
    }
    EXPECT_EQ(throttle.admit("2001:db8:1:2:ffff::9", "demo/main", start_ms).kind,
              Admission::Kind::refuse);
    EXPECT_EQ(throttle.admit("2001:db8:1:3::1", "demo/main", start_ms), Admission::check_now());
}

TEST(LoginThrottle, AnIpv4MappedAddressIsItsIpv4Address) {
    LoginThrottle throttle(example_settings(), fixed_key());
    fail_times(throttle, "::ffff:192.0.2.7", "guess/a", 8, start_ms);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms).kind, Admission::Kind::refuse);
    EXPECT_EQ(throttle.admit("192.0.2.8", "demo/main", start_ms), Admission::check_now());
}

TEST(LoginThrottle, UsernamesCountWhateverTheirCase) {
    LoginThrottle throttle(example_settings(), fixed_key());
    fail_times(throttle, "192.0.2.1", "Demo/Main", 4, start_ms);
    fail_times(throttle, "192.0.2.2", "DEMO/MAIN", 4, start_ms);
    EXPECT_EQ(throttle.admit("192.0.2.3", "demo/main", start_ms).kind, Admission::Kind::refuse);
}

TEST(LoginThrottle, ARandomKeyThrottlesAlike) {
    auto throttle = LoginThrottle::with_random_key(example_settings());
    ASSERT_TRUE(throttle.ok());
    fail_times(*throttle.value(), "192.0.2.7", "demo/main", 8, start_ms);
    EXPECT_EQ(throttle.value()->admit("192.0.2.9", "demo/main", start_ms).kind,
              Admission::Kind::refuse);
    EXPECT_EQ(throttle.value()->admit("192.0.2.9", "demo/other", start_ms), Admission::check_now());
}

TEST(LoginThrottle, LongUsernamesAreKeptApart) {
    // Usernames are hashed in pieces of 64 bytes: ones that differ only past the first piece,
    // or only in case past it, are still told apart (and alike).
    LoginThrottle throttle(example_settings(), fixed_key());
    const std::string stem(150, 'x');
    fail_times(throttle, "192.0.2.1", stem + "A", 8, start_ms);
    EXPECT_EQ(throttle.admit("192.0.2.2", stem + "a", start_ms).kind, Admission::Kind::refuse);
    EXPECT_EQ(throttle.admit("192.0.2.2", stem + "b", start_ms), Admission::check_now());
}

TEST(LoginThrottle, ZeroTurnsTheDelayAndTheLockoutOff) {
    LoginThrottleSettings settings = example_settings();
    settings.failures_before_delay = 0;
    settings.failures_before_lockout = 0;
    LoginThrottle throttle(settings, fixed_key());
    fail_times(throttle, "192.0.2.7", "demo/main", 50, start_ms);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms), Admission::check_now());
}

TEST(LoginThrottle, AMaximumDelayOfZeroMeansNoDelay) {
    LoginThrottleSettings settings = example_settings();
    settings.failure_delay_ms_max = 0;
    LoginThrottle throttle(settings, fixed_key());
    fail_times(throttle, "192.0.2.7", "demo/main", 5, start_ms);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms), Admission::check_now());
}

TEST(LoginThrottle, AFractionOfASecondNeverEndsALockoutEarly) {
    LoginThrottle throttle(example_settings(), fixed_key());
    fail_times(throttle, "192.0.2.7", "demo/main", 8, start_ms + 1);
    const Admission admission = throttle.admit("192.0.2.7", "demo/main", start_ms + 2);
    ASSERT_EQ(admission.kind, Admission::Kind::refuse);
    EXPECT_GE(admission.refused_until_ms, start_ms + 1 + 900'000);
    EXPECT_LE(admission.refused_until_ms, start_ms + 1 + 901'000);
    EXPECT_EQ(throttle.admit("192.0.2.7", "demo/main", start_ms + 900'001).kind,
              Admission::Kind::refuse);
}

TEST(LoginThrottle, LockedOutGuessersHoldFewOthersBack) {
    // 300 addresses each locked out guessing at its own username: 600 keys, 1200 of the 65,536
    // slots full. Another key is held back only if both its slots are among them (about 7 of
    // 10,000 address and username pairs); with one slot a key it would be about 180.
    LoginThrottle throttle(LoginThrottleSettings{}, fixed_key());
    for (int index = 0; index < 300; ++index) {
        fail_times(throttle,
                   "198.51." + std::to_string(index / 256) + "." + std::to_string(index % 256),
                   "victim/" + std::to_string(index), 10, start_ms);
    }
    ASSERT_EQ(throttle.admit("198.51.0.1", "demo/main", start_ms).kind, Admission::Kind::refuse);
    int held_back = 0;
    for (int index = 0; index < 10'000; ++index) {
        const std::string address =
            "10.1." + std::to_string(index / 256) + "." + std::to_string(index % 256);
        held_back += throttle.admit(address, "tenant/" + std::to_string(index), start_ms).kind !=
                     Admission::Kind::check_now;
    }
    EXPECT_LT(held_back, 40);
}

}  // namespace
