// leased_budget_test.cc -- examples of a leased budget and its book on a fixed clock: units
// taken until their deadline, a give-back after a reclaim that frees nothing, the book's
// returns, and the script's reply parsed.
#include "relay/policy/leased_budget.h"

#include <gtest/gtest.h>

#include "relay/cluster/lease_book.h"
#include "relay/cluster/lease_script.h"

namespace relay::cluster {
namespace {

using policy::LeasedBudget;

TEST(LeasedBudget, UnitsServeUntilTheirDeadlineAndOnlyOnce) {
    LeasedBudget budget("p/r", 10, 60, 4);
    EXPECT_FALSE(budget.take(1000));
    budget.fill(0, 2000);
    budget.fill(1, 2000);
    auto first = budget.take(1000);
    auto second = budget.take(1000);
    ASSERT_TRUE(first && second);
    EXPECT_NE(first->entry, second->entry);
    EXPECT_FALSE(budget.take(1000));
    budget.give_back(*first);
    EXPECT_TRUE(budget.take(1999));
    budget.fill(2, 2000);
    EXPECT_FALSE(budget.take(2000)) << "a unit past its lease's deadline is not served";
}

TEST(LeasedBudget, AGiveBackAfterTheEntryWasReclaimedAndFilledAgainFreesNothing) {
    LeasedBudget budget("p/r", 10, 60, 1);
    budget.fill(0, 5000);
    auto unit = budget.take(1000);
    ASSERT_TRUE(unit);
    LeasedBudget::Entry seen = budget.entry_state(0);
    EXPECT_EQ(seen.state, LeasedBudget::State::used);
    EXPECT_EQ(seen.time_ms, 1000);
    ASSERT_TRUE(budget.reclaim(0, seen.word));
    budget.fill(0, 5000);
    auto next = budget.take(1100);
    ASSERT_TRUE(next);
    budget.give_back(*unit);  // the old lease's unit: must not free the new one
    EXPECT_FALSE(budget.take(1200));
}

TEST(LeaseBook, AsksWhenStarvedAndReturnsWhatItUsed) {
    auto budget = std::make_shared<LeasedBudget>("p/r", 100, 300, 16);
    LeaseBookOptions options;
    options.lease_ms = 10000;
    options.used_hold_ms = 100;
    LeaseBook book(budget, options);
    EXPECT_FALSE(book.next_request(1000, true)) << "no demand, nothing to ask";
    EXPECT_TRUE(budget->note_starved());
    auto request = book.next_request(1000, true);
    ASSERT_TRUE(request);
    EXPECT_GE(request->want, 1U);
    EXPECT_TRUE(request->returns.empty());
    EXPECT_FALSE(book.next_request(1001, true)) << "one request in flight";
    book.on_grant(LeaseGrant{"7.1", {3, 4}, 98, 0, 2}, 1000, 1002);
    auto unit = budget->take(1003);
    ASSERT_TRUE(unit);
    // Past the hold the used unit goes back with its time, and with no more demand so does the
    // unused one.
    auto returns = book.next_request(1200, true);
    ASSERT_TRUE(returns);
    ASSERT_EQ(returns->returns.size(), 2U);
    EXPECT_EQ(returns->returns[1].used_at_ms, -1);
    EXPECT_EQ(returns->returns[0].lease_id, "7.1");
    EXPECT_EQ(returns->returns[0].used_at_ms, 1003);
    book.on_failure();  // lost: the same return goes again
    auto again = book.next_request(1300, true);
    ASSERT_TRUE(again);
    ASSERT_GE(again->returns.size(), 1U);
    EXPECT_EQ(again->returns[0].used_at_ms, 1003);
    ScriptCall call = lease_script_call(*again, "n1", 10000, 1303);
    EXPECT_EQ(call.keys[0], "relay:rate:{p/r}:slots");
    EXPECT_EQ(call.arguments[8], "300") << "the age of the use when the request is sent";
}

TEST(LeaseScript, RepliesAreParsedAndOddOnesRefused) {
    RedisReply reply{RedisReply::Type::array, 0, {}, {}};
    reply.elements.push_back({RedisReply::Type::text, 0, "17.2", {}});
    reply.elements.push_back({RedisReply::Type::integer, 0, {}, {}});
    reply.elements.push_back({RedisReply::Type::integer, 2500, {}, {}});
    reply.elements.push_back({RedisReply::Type::integer, 1, {}, {}});
    reply.elements.push_back({RedisReply::Type::integer, 9, {}, {}});
    Result<LeaseGrant> grant = parse_lease_reply(reply);
    ASSERT_TRUE(grant);
    EXPECT_EQ(grant.value().lease_id, "17.2");
    EXPECT_EQ(grant.value().slots, std::vector<std::uint32_t>{9});
    EXPECT_EQ(grant.value().retry_after_ms, 2500);
    EXPECT_FALSE(parse_lease_reply(RedisReply{RedisReply::Type::error, 0, "NOSCRIPT", {}}));
    reply.elements.resize(3);
    EXPECT_FALSE(parse_lease_reply(reply));
}

}  // namespace
}  // namespace relay::cluster
