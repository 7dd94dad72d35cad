// rate_limiter_bench.cc -- message rate decisions per second, alone and with threads taking
// units at once as workers would, on one resource and spread over 10,000.
//
// One iteration is one decision as a session makes it at MAIL: acquire() by username (the
// table lookup included) and, for a granted unit, give_back() (a transaction abandoned), so
// that the budget never runs dry and every iteration takes a slot. "Time" is ns per decision
// and items/s decisions per second, per thread. All threads share one limiter. Cases:
//   one_resource: every thread on one resource (limit 100 per 300 s): the worst case, all
//     compare-and-swaps on one array of 100 slots;
//   many_resources: 10,000 resources, each thread walking them from its own offset;
//   refused: one resource whose budget is used up: each decision scans its 100 slots and
//     writes nothing;
//   slots_only: one resource's ResourceRate without the table, to separate the slot array's
//     cost from the lookup's.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "relay/policy/rate_limiter.h"

namespace {

using relay::policy::RateLimiter;
using relay::policy::ResourceRate;

constexpr std::int64_t now_ms = 1'000'000;
constexpr int many = 10'000;

std::string username(int index) {
    return "project" + std::to_string(index) + "/main";
}

RateLimiter& limiter_of(int resources) {
    static std::unique_ptr<RateLimiter> limiters[2];
    std::unique_ptr<RateLimiter>& limiter = limiters[resources == 1 ? 0 : 1];
    if (!limiter) {
        relay::store::TenantData data;
        for (int index = 0; index < resources; ++index) {
            relay::store::ResourceRecord resource;
            resource.project = "project" + std::to_string(index);
            resource.name = "main";
            data.resources.push_back(resource);
        }
        limiter = std::make_unique<RateLimiter>();
        limiter->update(*relay::policy::TenantSnapshot::build(data), now_ms);
    }
    return *limiter;
}

void decide(benchmark::State& state, const RateLimiter& limiter, const std::string& user) {
    relay::policy::RateAdmission admission = limiter.acquire(user, now_ms);
    if (admission.unit) {
        RateLimiter::give_back(*admission.unit);
    }
    benchmark::DoNotOptimize(admission);
    (void)state;
}

void one_resource(benchmark::State& state) {
    const RateLimiter& limiter = limiter_of(1);
    std::string user = username(0);
    for (auto _ : state) {
        decide(state, limiter, user);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(one_resource)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

void many_resources(benchmark::State& state) {
    const RateLimiter& limiter = limiter_of(many);
    std::vector<std::string> users;
    users.reserve(many);
    for (int index = 0; index < many; ++index) {
        users.push_back(username(index));
    }
    std::size_t next = static_cast<std::size_t>(state.thread_index()) * (many / 4);
    for (auto _ : state) {
        decide(state, limiter, users[next]);
        next = next + 1 == users.size() ? 0 : next + 1;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(many_resources)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

void refused(benchmark::State& state) {
    static RateLimiter* full = [] {
        relay::store::TenantData data;
        relay::store::ResourceRecord resource;
        resource.project = "full";
        resource.name = "main";
        data.resources.push_back(resource);
        auto* limiter = new RateLimiter();
        limiter->update(*relay::policy::TenantSnapshot::build(data), now_ms);
        while (limiter->acquire("full/main", now_ms).unit) {
        }
        return limiter;
    }();
    std::string user = "full/main";
    for (auto _ : state) {
        decide(state, *full, user);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(refused)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

void slots_only(benchmark::State& state) {
    static ResourceRate rate(100, 300);
    for (auto _ : state) {
        relay::policy::RateDecision decision = rate.acquire(now_ms);
        if (decision.outcome == relay::policy::RateDecision::Outcome::taken) {
            rate.give_back(decision.taken);
        }
        benchmark::DoNotOptimize(decision);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(slots_only)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

}  // namespace
