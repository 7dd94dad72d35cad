// login_throttle_bench.cc -- cost of the login throttle per AUTH attempt, alone and with threads
// contending for its table as workers would.
//
// One iteration is one attempt: admit() before the check, then record_failure() (or
// record_success()) after it, so "Time" is ns per attempt and items/s attempts per second. All
// threads share one table. Keys are prepared before the timed loop; the clock advances 1 ms per
// attempt. Cases: each thread with its own keys (the usual load: contention only where hashes
// meet); all threads failing one username from their own addresses (a botnet on one account:
// every attempt updates the same two slots); failures then a success of each username.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "relay/policy/login_throttle.h"

namespace {

using relay::policy::LoginThrottle;
using relay::policy::LoginThrottleSettings;

constexpr std::uint64_t start_ms = 1'780'000'000'000;
constexpr int keys_per_thread = 4096;

LoginThrottle& shared_throttle() {
    static LoginThrottle throttle(LoginThrottleSettings{}, relay::policy::internal::SipHashKey{1});
    return throttle;
}

struct Keys {
    std::vector<std::string> addresses;
    std::vector<std::string> usernames;
};

Keys keys_of_thread(int thread) {
    Keys keys;
    for (int index = 0; index < keys_per_thread; ++index) {
        keys.addresses.push_back("10." + std::to_string(thread) + "." +
                                 std::to_string(index / 256) + "." + std::to_string(index % 256));
        keys.usernames.push_back("project" + std::to_string(thread) + "/resource" +
                                 std::to_string(index));
    }
    return keys;
}

void BM_AttemptOwnKeys(benchmark::State& state) {
    LoginThrottle& throttle = shared_throttle();
    const Keys keys = keys_of_thread(state.thread_index());
    std::uint64_t now_ms = start_ms;
    std::size_t index = 0;
    for (auto _ : state) {
        const std::string& address = keys.addresses[index % keys_per_thread];
        const std::string& username = keys.usernames[index % keys_per_thread];
        benchmark::DoNotOptimize(throttle.admit(address, username, now_ms));
        throttle.record_failure(address, username, now_ms);
        ++index;
        ++now_ms;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AttemptOwnKeys)->ThreadRange(1, 4)->UseRealTime();

void BM_AttemptOneUsername(benchmark::State& state) {
    LoginThrottle& throttle = shared_throttle();
    const Keys keys = keys_of_thread(state.thread_index());
    std::uint64_t now_ms = start_ms;
    std::size_t index = 0;
    for (auto _ : state) {
        const std::string& address = keys.addresses[index % keys_per_thread];
        benchmark::DoNotOptimize(throttle.admit(address, "victim/main", now_ms));
        throttle.record_failure(address, "victim/main", now_ms);
        ++index;
        ++now_ms;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AttemptOneUsername)->ThreadRange(1, 4)->UseRealTime();

void BM_AttemptThenSuccess(benchmark::State& state) {
    LoginThrottle& throttle = shared_throttle();
    const Keys keys = keys_of_thread(state.thread_index() + 64);
    std::uint64_t now_ms = start_ms;
    std::size_t index = 0;
    for (auto _ : state) {
        const std::string& address = keys.addresses[index % keys_per_thread];
        const std::string& username = keys.usernames[index % keys_per_thread];
        benchmark::DoNotOptimize(throttle.admit(address, username, now_ms));
        throttle.record_success(address, username, now_ms);
        ++index;
        ++now_ms;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AttemptThenSuccess)->ThreadRange(1, 4)->UseRealTime();

}  // namespace
