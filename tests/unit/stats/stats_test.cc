// stats_test.cc -- the statistics store and the workers' counters: examples (buckets, totals,
// sums over a period, pruning past each horizon, a reopened store), a randomized comparison
// with a plain map model (random events at random times across minute and hour boundaries,
// drained at random points), and the hard/soft bounce rule.
//
// RELAY_STATS_MODEL_STEPS=N for a longer run, RELAY_STATS_MODEL_SEED=N to repeat one.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <cstdlib>
#include <map>
#include <random>
#include <tuple>

#include "../store/store_test_support.h"
#include "relay/bounce/classify.h"
#include "relay/stats/delivery_outcome.h"
#include "relay/stats/recorder.h"

namespace relay::stats {
namespace {

using store::StatsCounter;
using store::StatsCounts;
using store::StatsScope;
using store::StatsScopeKind;

constexpr std::uint64_t day_s = 86400;
constexpr std::uint64_t base_s = 1'796'000'400;  // 2026-11-30, a whole hour

StatsScope resource(const std::string& name) {
    return {StatsScopeKind::resource, name};
}
StatsScope domain(const std::string& name) {
    return {StatsScopeKind::domain, name};
}

class StatsStoreTest : public store::testing::StoreFixture {
  protected:
    store::StatsStore& stats() { return store_->stats(); }

    void flush(Recorder& recorder) {
        auto deltas = recorder.drain();
        ASSERT_TRUE(stats().add_stats(deltas));
    }
    StatsCounts sum(const StatsScope& scope, std::uint64_t since_s, std::uint64_t now_s) {
        auto counted = stats().sum_stats(scope, since_s, now_s);
        EXPECT_TRUE(counted) << counted.error().message;
        return counted ? counted.value() : StatsCounts{};
    }
};

std::uint64_t at(const StatsCounts& counts, StatsCounter counter) {
    return counts[static_cast<std::size_t>(counter)];
}

TEST_F(StatsStoreTest, CountsLandInTheirMinuteHourAndTotalPerResourceAndDomain) {
    Recorder recorder(2);
    recorder.worker(0).count("acme/main", "Acme.Example", StatsCounter::accepted, base_s + 59);
    recorder.worker(1).count("acme/main", "acme.example", StatsCounter::accepted, base_s + 60);
    recorder.worker(1).count("acme/main", "", StatsCounter::refused_sender, base_s + 61);
    recorder.worker(0).count("", "", StatsCounter::refused_auth, base_s + 3600);
    flush(recorder);

    auto minutes = stats().stats_series(resource("acme/main"), 60, 0);
    ASSERT_TRUE(minutes);
    ASSERT_EQ(minutes->size(), 2u);
    EXPECT_EQ(minutes.value()[0].start_s, base_s);
    EXPECT_EQ(at(minutes.value()[0].counts, StatsCounter::accepted), 1u);
    EXPECT_EQ(minutes.value()[1].start_s, base_s + 60);
    EXPECT_EQ(at(minutes.value()[1].counts, StatsCounter::accepted), 1u);
    EXPECT_EQ(at(minutes.value()[1].counts, StatsCounter::refused_sender), 1u);
    auto hours = stats().stats_series(resource("acme/main"), 3600, 0);
    ASSERT_TRUE(hours);
    ASSERT_EQ(hours->size(), 1u);
    EXPECT_EQ(at(hours.value()[0].counts, StatsCounter::accepted), 2u);

    // The domain in lower case, without the count that named no domain.
    StatsCounts domain_total = sum(domain("acme.example"), 0, base_s + 3600);
    EXPECT_EQ(at(domain_total, StatsCounter::accepted), 2u);
    EXPECT_EQ(at(domain_total, StatsCounter::refused_sender), 0u);
    EXPECT_EQ(at(sum(resource(""), 0, base_s), StatsCounter::refused_auth), 1u);
    // Since a minute: only the later buckets.
    EXPECT_EQ(at(sum(resource("acme/main"), base_s + 60, base_s + 120), StatsCounter::accepted),
              1u);

    auto names = stats().stats_scopes(StatsScopeKind::resource);
    ASSERT_TRUE(names);
    EXPECT_EQ(names.value(), (std::vector<std::string>{"", "acme/main"}));
    auto domains = stats().stats_scopes(StatsScopeKind::domain);
    ASSERT_TRUE(domains);
    EXPECT_EQ(domains.value(), (std::vector<std::string>{"acme.example"}));

    // A second flush adds to what is there, and a reopened store has it all.
    recorder.worker(0).count("acme/main", "acme.example", StatsCounter::accepted, base_s + 59, 5);
    flush(recorder);
    reopen();
    EXPECT_EQ(at(sum(resource("acme/main"), 0, base_s), StatsCounter::accepted), 7u);
}

TEST_F(StatsStoreTest, PruneDropsMinutesAfter48HoursAndHoursAfter90DaysButKeepsTotals) {
    Recorder recorder(1);
    recorder.worker(0).count("a/b", "", StatsCounter::delivered, base_s);
    flush(recorder);
    const StatsScope scope = resource("a/b");
    // Just inside 48 hours: nothing goes.
    auto pruned = stats().prune_stats(base_s + 2 * day_s - 1);
    ASSERT_TRUE(pruned);
    EXPECT_EQ(pruned.value(), 0u);
    // At 48 hours the minute goes; the hour stays, and a 30-day sum (hour buckets) still has it.
    pruned = stats().prune_stats(base_s + 2 * day_s + 59);
    ASSERT_TRUE(pruned);
    EXPECT_EQ(pruned.value(), 1u);
    EXPECT_TRUE(stats().stats_series(scope, 60, 0)->empty());
    EXPECT_EQ(at(sum(scope, base_s + 2 * day_s - 30 * day_s, base_s + 2 * day_s),
                 StatsCounter::delivered),
              1u);
    // At 90 days the hour goes too; the total never does.
    pruned = stats().prune_stats(base_s + 90 * day_s + 3599);
    ASSERT_TRUE(pruned);
    EXPECT_EQ(pruned.value(), 1u);
    EXPECT_TRUE(stats().stats_series(scope, 3600, 0)->empty());
    EXPECT_EQ(at(sum(scope, 0, base_s + 90 * day_s), StatsCounter::delivered), 1u);
}

TEST_F(StatsStoreTest, RandomEventsAcrossMinuteAndHourBoundariesMatchAMapModel) {
    const char* seed_text = std::getenv("RELAY_STATS_MODEL_SEED");
    const char* steps_text = std::getenv("RELAY_STATS_MODEL_STEPS");
    const std::uint64_t seed =
        seed_text ? std::strtoull(seed_text, nullptr, 10) : std::random_device{}();
    const int steps = steps_text ? std::atoi(steps_text) : 20000;
    SCOPED_TRACE("RELAY_STATS_MODEL_SEED=" + std::to_string(seed));
    std::mt19937_64 random(seed);
    const std::vector<std::string> resources = {"", "a/one", "a/two", "b/one"};
    const std::vector<std::string> domains = {"", "one.example", "two.example"};
    Recorder recorder(3);

    // (scope, minute) -> counts; the model of what the store must hold.
    std::map<std::pair<StatsScope, std::uint64_t>, StatsCounts> model;
    std::uint64_t now_s = base_s - 1800;
    for (int step = 0; step < steps; ++step) {
        now_s += random() % 3 == 0 ? random() % 200 : random() % 3;  // across boundaries often
        int worker = static_cast<int>(random() % 3);
        const std::string& who = resources[random() % resources.size()];
        const std::string& from = domains[random() % domains.size()];
        auto counter = static_cast<StatsCounter>(random() % store::stats_counter_count);
        std::uint64_t amount = 1 + random() % 3;
        recorder.worker(worker).count(who, from, counter, now_s, amount);
        model[{resource(who), now_s / 60}][static_cast<std::size_t>(counter)] += amount;
        if (!from.empty()) {
            model[{domain(from), now_s / 60}][static_cast<std::size_t>(counter)] += amount;
        }
        if (random() % 50 == 0) {
            flush(recorder);
        }
    }
    flush(recorder);
    ASSERT_EQ(recorder.dropped(), 0u);

    std::map<StatsScope, std::map<std::uint64_t, StatsCounts>> hours;
    std::map<StatsScope, StatsCounts> totals;
    for (const auto& [key, counts] : model) {
        for (std::size_t index = 0; index < store::stats_counter_count; ++index) {
            hours[key.first][key.second / 60][index] += counts[index];
            totals[key.first][index] += counts[index];
        }
    }
    for (const auto& [scope, by_hour] : hours) {
        SCOPED_TRACE(scope.name);
        auto minutes = stats().stats_series(scope, 60, 0);
        ASSERT_TRUE(minutes);
        std::map<std::uint64_t, StatsCounts> stored;
        for (const store::StatsBucket& bucket : minutes.value()) {
            stored[bucket.start_s / 60] = bucket.counts;
        }
        std::map<std::uint64_t, StatsCounts> expected;
        for (const auto& [key, counts] : model) {
            if (key.first == scope) {
                expected[key.second] = counts;
            }
        }
        EXPECT_EQ(stored, expected);
        auto stored_hours = stats().stats_series(scope, 3600, 0);
        ASSERT_TRUE(stored_hours);
        std::map<std::uint64_t, StatsCounts> hour_map;
        for (const store::StatsBucket& bucket : stored_hours.value()) {
            hour_map[bucket.start_s / 3600] = bucket.counts;
        }
        EXPECT_EQ(hour_map, by_hour);
        EXPECT_EQ(sum(scope, 0, now_s), totals[scope]);
        // A sum since a random second: its minute on within 48 hours, else its hour on.
        std::uint64_t since_s = base_s - 1800 + random() % (now_s - base_s + 1800 + 1);
        bool by_minute = now_s - since_s <= store::stats_minute_buckets_kept * 60;
        StatsCounts since_model{};
        for (const auto& [minute, counts] : expected) {
            bool inside = by_minute ? minute >= since_s / 60 : minute / 60 >= since_s / 3600;
            for (std::size_t index = 0; inside && index < counts.size(); ++index) {
                since_model[index] += counts[index];
            }
        }
        EXPECT_EQ(sum(scope, since_s, now_s), since_model);
    }
}

TEST(StatsRecorder, OverTheKeyBoundCountsGoToNoResourceAndNothingIsLostSilently) {
    Recorder recorder(1, 2);
    WorkerCounter& counter = recorder.worker(0);
    counter.count("a/one", "", StatsCounter::accepted, base_s);
    counter.count("", "", StatsCounter::accepted, base_s);
    counter.count("a/two", "", StatsCounter::accepted, base_s);       // third key: to no resource
    counter.count("a/two", "", StatsCounter::accepted, base_s + 60);  // no key left at all
    EXPECT_EQ(recorder.dropped(), 1u);
    auto deltas = recorder.drain();
    std::map<std::string, std::uint64_t> accepted;
    for (const store::StatsDelta& delta : deltas) {
        accepted[delta.scope.name] += at(delta.counts, StatsCounter::accepted);
    }
    EXPECT_EQ(accepted, (std::map<std::string, std::uint64_t>{{"", 2}, {"a/one", 1}}));
    // Drained: the next interval starts empty and has room again.
    EXPECT_TRUE(recorder.drain().empty());
    counter.count("a/two", "", StatsCounter::accepted, base_s + 60);
    EXPECT_EQ(recorder.drain().size(), 1u);
}

TEST(StatsDeliveryOutcome, FiveHundredsAndNoRouteAreHardExpiryIsSoft) {
    EXPECT_EQ(delivery_counter(DeliveryResult::delivered, "250 2.0.0 Ok"), StatsCounter::delivered);
    EXPECT_EQ(delivery_counter(DeliveryResult::deferred, "451 4.3.0 later"),
              StatsCounter::deferred);
    EXPECT_EQ(delivery_counter(DeliveryResult::failed, "550 5.1.1 no such user"),
              StatsCounter::bounced_hard);
    EXPECT_EQ(delivery_counter(DeliveryResult::failed, "554 5.4.4 no MX and no address"),
              StatsCounter::bounced_hard);
    EXPECT_EQ(delivery_counter(DeliveryResult::failed,
                               "554 4.4.7 message expired after 120 hours in the queue; last "
                               "error: 451 4.3.0 later"),
              StatsCounter::bounced_soft);
    // Held by a TLS policy until it expired: still a soft bounce.
    EXPECT_EQ(delivery_counter(DeliveryResult::failed,
                               "554 4.7.4 message expired after 90 seconds in the queue; last "
                               "error: MTA-STS policy of example.net (enforce) not met"),
              StatsCounter::bounced_soft);
}

TEST(StatsDeliveryOutcome, AFailureCountsUnderTheReasonTheClassifierGivesIt) {
    EXPECT_EQ(delivery_reason_counter("550 5.1.1 <gone@example.net>: Recipient address rejected"),
              StatsCounter::bounce_reason_no_such_user);
    EXPECT_EQ(delivery_reason_counter("552 5.2.2 mailbox full"),
              StatsCounter::bounce_reason_mailbox_full);
    EXPECT_EQ(delivery_reason_counter("554 4.4.7 message expired after 120 hours in the queue; "
                                      "last error: 451 4.3.0 later"),
              StatsCounter::bounce_reason_expired);
    EXPECT_EQ(delivery_reason_counter("550 go away"), StatsCounter::bounce_reason_unknown);
}

// Every reason a bounce can have has its counter, under the classifier's name, so a reason added
// to bounce/classify.h without a counter fails here rather than counting as unknown.
TEST(StatsBounceReasons, EveryBounceReasonHasItsCounterAndComplaintsHaveNone) {
    std::size_t counters = 0;
    for (auto reason = bounce::BounceReason::unknown; reason <= bounce::BounceReason::delivered;
         reason = static_cast<bounce::BounceReason>(static_cast<int>(reason) + 1)) {
        auto counter = store::bounce_reason_counter(bounce::reason_name(reason));
        bool bounce = reason != bounce::BounceReason::complaint &&
                      reason != bounce::BounceReason::auto_reply &&
                      reason != bounce::BounceReason::delivered;
        ASSERT_EQ(counter.has_value(), bounce) << bounce::reason_name(reason);
        if (counter) {
            EXPECT_TRUE(store::is_bounce_reason(*counter));
            EXPECT_EQ(store::bounce_reason_of(*counter), bounce::reason_name(reason));
            ++counters;
        }
    }
    std::size_t stored = 0;
    for (std::size_t index = 0; index < store::stats_counter_count; ++index) {
        stored += store::is_bounce_reason(static_cast<StatsCounter>(index)) ? 1 : 0;
    }
    EXPECT_EQ(counters, stored);
    EXPECT_FALSE(store::is_bounce_reason(StatsCounter::bounced_hard));
}

TEST_F(StatsStoreTest, BounceReasonsAreSummedPerResourceLikeEveryCounter) {
    Recorder recorder(1);
    recorder.worker(0).count("acme/main", "acme.example", StatsCounter::bounce_reason_no_such_user,
                             base_s);
    recorder.worker(0).count("acme/main", "acme.example", StatsCounter::bounce_reason_no_such_user,
                             base_s + 3600);
    recorder.worker(0).count("acme/main", "acme.example", StatsCounter::bounce_reason_spam,
                             base_s + 3600);
    flush(recorder);
    StatsCounts total = sum(resource("acme/main"), 0, base_s + 3600);
    EXPECT_EQ(at(total, StatsCounter::bounce_reason_no_such_user), 2u);
    EXPECT_EQ(at(total, StatsCounter::bounce_reason_spam), 1u);
    StatsCounts last_hour = sum(domain("acme.example"), base_s + 3600, base_s + 3660);
    EXPECT_EQ(at(last_hour, StatsCounter::bounce_reason_no_such_user), 1u);
    EXPECT_EQ(at(last_hour, StatsCounter::bounce_reason_spam), 1u);
}

// A total written before the bounce reasons were appended holds 15 values; it must read as it
// did, with every reason at 0, and take new counts on top.
TEST_F(StatsStoreTest, ATotalOfTheFifteenCounterFormatStillReadsAndAddsUp) {
    store_.reset();
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 16), 0);
    ASSERT_EQ(mdb_env_open(env, (root_ / "store").c_str(), MDB_NOTLS, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi buckets = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "stats", MDB_CREATE, &buckets), 0);
    std::string key = std::string("rold/main", 9) + '\0' + 't' + std::string(8, '\0');
    std::string value = "5 0 0 0 0 0 0 0 3 0 2 0 0 1 0";
    MDB_val key_val{key.size(), key.data()};
    MDB_val value_val{value.size(), value.data()};
    ASSERT_EQ(mdb_put(txn, buckets, &key_val, &value_val, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    reopen();

    StatsCounts old = sum(resource("old/main"), 0, base_s);
    EXPECT_EQ(at(old, StatsCounter::accepted), 5u);
    EXPECT_EQ(at(old, StatsCounter::delivered), 3u);
    EXPECT_EQ(at(old, StatsCounter::bounced_hard), 2u);
    EXPECT_EQ(at(old, StatsCounter::stop_listed), 1u);
    EXPECT_EQ(at(old, StatsCounter::bounce_reason_no_such_user), 0u);
    Recorder recorder(1);
    recorder.worker(0).count("old/main", "", StatsCounter::bounced_hard, base_s);
    recorder.worker(0).count("old/main", "", StatsCounter::bounce_reason_no_such_user, base_s);
    flush(recorder);
    StatsCounts now = sum(resource("old/main"), 0, base_s);
    EXPECT_EQ(at(now, StatsCounter::accepted), 5u);
    EXPECT_EQ(at(now, StatsCounter::bounced_hard), 3u);
    EXPECT_EQ(at(now, StatsCounter::bounce_reason_no_such_user), 1u);
}

}  // namespace
}  // namespace relay::stats
