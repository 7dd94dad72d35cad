// rate_limiter_test.cc -- one resource's budget on a fixed clock, and the table of budgets
// following the tenant snapshots: a sliding window (never N + 1 within one window, never 2N
// across a boundary), the wait a refused client is told, units given back, limits changed.
#include "relay/policy/rate_limiter.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "relay/policy/resource_rate.h"

namespace relay::policy {
namespace {

using Outcome = RateDecision::Outcome;

constexpr std::int64_t start_ms = 1'000'000;

int take_all(ResourceRate& rate, std::int64_t now_ms, std::vector<RateUnitSlot>* units = nullptr) {
    int taken = 0;
    for (;;) {
        RateDecision decision = rate.acquire(now_ms);
        if (decision.outcome != Outcome::taken) {
            return taken;
        }
        ++taken;
        if (units != nullptr) {
            units->push_back(decision.taken);
        }
    }
}

TEST(ResourceRate, ExactlyTheLimitThenTheWaitForTheOldestUnit) {
    ResourceRate rate(100, 300);
    EXPECT_EQ(take_all(rate, start_ms), 100);
    RateDecision refused = rate.acquire(start_ms + 1'000);
    EXPECT_EQ(refused.outcome, Outcome::full);
    EXPECT_EQ(refused.retry_after_ms, 299'000);
}

// GCRA with a burst of N would let one more through at the end of the first window; a fixed
// window would let N more through just after its boundary.
TEST(ResourceRate, SlidingWindowNotFixedIntervals) {
    ResourceRate rate(10, 60);
    EXPECT_EQ(take_all(rate, start_ms + 59'000), 10);          // late in a "minute"
    EXPECT_EQ(take_all(rate, start_ms + 61'000), 0);           // just after its boundary
    EXPECT_EQ(take_all(rate, start_ms + 59'000 + 59'999), 0);  // 1 ms before the window ends
    EXPECT_EQ(take_all(rate, start_ms + 59'000 + 60'000), 10);
}

TEST(ResourceRate, SpreadDemandFreesUnitsOneByOne) {
    ResourceRate rate(3, 10);
    EXPECT_EQ(rate.acquire(start_ms).outcome, Outcome::taken);
    EXPECT_EQ(rate.acquire(start_ms + 4'000).outcome, Outcome::taken);
    EXPECT_EQ(rate.acquire(start_ms + 8'000).outcome, Outcome::taken);
    RateDecision refused = rate.acquire(start_ms + 9'000);
    EXPECT_EQ(refused.outcome, Outcome::full);
    EXPECT_EQ(refused.retry_after_ms, 1'000);
    EXPECT_EQ(take_all(rate, start_ms + 10'000), 1);  // only the unit of t = 0
    EXPECT_EQ(take_all(rate, start_ms + 14'000), 1);
}

TEST(ResourceRate, AGivenBackUnitIsFreeAtOnce) {
    ResourceRate rate(2, 300);
    std::vector<RateUnitSlot> units;
    EXPECT_EQ(take_all(rate, start_ms, &units), 2);
    rate.give_back(units[1]);
    EXPECT_EQ(rate.busy(start_ms + 1), 1U);
    EXPECT_EQ(take_all(rate, start_ms + 1), 1);
    EXPECT_EQ(take_all(rate, start_ms + 2), 0);
}

// A transaction that outlived its window gives back a slot that another took since: the later
// taking stays counted.
TEST(ResourceRate, ALateGiveBackDoesNotFreeAnotherTaking) {
    ResourceRate rate(1, 10);
    RateDecision first = rate.acquire(start_ms);
    ASSERT_EQ(first.outcome, Outcome::taken);
    ASSERT_EQ(rate.acquire(start_ms + 10'000).outcome, Outcome::taken);
    rate.give_back(first.taken);
    EXPECT_EQ(rate.acquire(start_ms + 10'001).outcome, Outcome::full);
}

TEST(ResourceRate, TheWaitIsAtLeastOneMillisecond) {
    ResourceRate rate(1, 1);
    ASSERT_EQ(rate.acquire(start_ms).outcome, Outcome::taken);
    RateDecision refused = rate.acquire(start_ms + 999);
    EXPECT_EQ(refused.outcome, Outcome::full);
    EXPECT_EQ(refused.retry_after_ms, 1);
}

store::TenantData tenants(std::uint32_t messages, std::uint32_t window_s,
                          const std::vector<std::string>& names = {"a", "b"}) {
    store::TenantData data;
    data.generation = 1;
    data.projects.push_back(store::ProjectRecord{"p", 1, 3, {}});
    for (const std::string& name : names) {
        store::ResourceRecord resource;
        resource.project = "p";
        resource.name = name;
        resource.rate_messages = messages;
        resource.rate_window_s = window_s;
        data.resources.push_back(resource);
    }
    return data;
}

int take_all(const RateLimiter& limiter, std::string_view username, std::int64_t now_ms) {
    int taken = 0;
    while (limiter.acquire(username, now_ms).unit) {
        ++taken;
    }
    return taken;
}

TEST(RateLimiter, EachResourceHasItsOwnBudget) {
    RateLimiter limiter;
    limiter.update(*TenantSnapshot::build(tenants(5, 60)), start_ms);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms), 5);
    EXPECT_EQ(take_all(limiter, "p/b", start_ms), 5);
    RateAdmission refused = limiter.acquire("p/a", start_ms + 1'500);
    EXPECT_TRUE(refused.known);
    EXPECT_FALSE(refused.unit);
    EXPECT_EQ(refused.messages, 5U);
    EXPECT_EQ(refused.window_s, 60U);
    EXPECT_EQ(refused.retry_after_ms, 58'500);
    EXPECT_FALSE(limiter.acquire("p/unknown", start_ms).known);
}

TEST(RateLimiter, ANewSnapshotKeepsTheBudgetOfAnUnchangedResource) {
    RateLimiter limiter;
    limiter.update(*TenantSnapshot::build(tenants(5, 60)), start_ms);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms), 5);
    limiter.update(*TenantSnapshot::build(tenants(5, 60, {"a", "b", "c"})), start_ms + 10);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms + 20), 0);
    EXPECT_EQ(take_all(limiter, "p/c", start_ms + 20), 5);
    limiter.update(*TenantSnapshot::build(tenants(5, 60, {"b"})), start_ms + 30);
    EXPECT_FALSE(limiter.acquire("p/a", start_ms + 40).known);
    EXPECT_EQ(limiter.resources(), 1U);
}

// A changed limit counts what was sent under the old one: raising 5 to 8 leaves 3 now, and the
// units sent at t = 0 free at t + the new window.
TEST(RateLimiter, AChangedLimitCountsTheUnitsAlreadyTaken) {
    RateLimiter limiter;
    limiter.update(*TenantSnapshot::build(tenants(5, 60)), start_ms);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms), 5);
    limiter.update(*TenantSnapshot::build(tenants(8, 30)), start_ms + 1'000);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms + 1'000), 3);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms + 29'999), 0);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms + 30'000), 5);
    limiter.update(*TenantSnapshot::build(tenants(2, 30)), start_ms + 30'001);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms + 30'002), 0);
}

// A unit taken before a change goes back to the budget it came from; the successor counted it.
TEST(RateLimiter, AUnitTakenBeforeAChangeGoesBackWhereItCameFrom) {
    RateLimiter limiter;
    limiter.update(*TenantSnapshot::build(tenants(2, 60)), start_ms);
    RateAdmission held = limiter.acquire("p/a", start_ms);
    ASSERT_TRUE(held.unit);
    limiter.update(*TenantSnapshot::build(tenants(3, 60)), start_ms + 1);
    RateLimiter::give_back(*held.unit);
    EXPECT_FALSE(held.unit->rate);
    EXPECT_EQ(take_all(limiter, "p/a", start_ms + 2), 2);
    RateLimiter::give_back(*held.unit);  // a second give-back does nothing
}

TEST(RateLimiter, GivenBackUnitsAreReusable) {
    RateLimiter limiter;
    limiter.update(*TenantSnapshot::build(tenants(3, 60)), start_ms);
    std::vector<RateUnit> units;
    units.reserve(3);
    for (int index = 0; index < 3; ++index) {
        units.push_back(*limiter.acquire("p/a", start_ms).unit);
    }
    EXPECT_FALSE(limiter.acquire("p/a", start_ms).unit);
    for (RateUnit& unit : units) {
        RateLimiter::give_back(unit);
    }
    EXPECT_EQ(take_all(limiter, "p/a", start_ms + 1), 3);
}

}  // namespace
}  // namespace relay::policy

namespace relay::policy {
namespace {

// limits.connections_per_resource_max: logins counted per resource until they end, kept
// across a new snapshot and a changed rate limit.
TEST(RateLimiterLogins, AtMostTheCapPerResourceAndEndedOnesFreeTheirPlace) {
    RateLimiter limiter;
    limiter.update(*TenantSnapshot::build(tenants(5, 60)), start_ms);
    std::vector<ResourceLogin> logins;
    for (int index = 0; index < 3; ++index) {
        auto login = limiter.admit_login("p/a", 3);
        ASSERT_TRUE(login);
        logins.push_back(*login);
    }
    EXPECT_FALSE(limiter.admit_login("p/a", 3));
    EXPECT_TRUE(limiter.admit_login("p/b", 3));  // counted, and not ended: b has 1
    limiter.update(*TenantSnapshot::build(tenants(9, 30)), start_ms + 1);
    EXPECT_EQ(limiter.logins("p/a"), 3U);
    EXPECT_FALSE(limiter.admit_login("p/a", 3));
    RateLimiter::end_login(logins[0]);
    RateLimiter::end_login(logins[0]);  // a second end does nothing
    EXPECT_EQ(limiter.logins("p/a"), 2U);
    EXPECT_TRUE(limiter.admit_login("p/a", 3));
    auto unknown = limiter.admit_login("p/gone", 1);
    ASSERT_TRUE(unknown);
    EXPECT_FALSE(unknown->count);
}

}  // namespace
}  // namespace relay::policy
