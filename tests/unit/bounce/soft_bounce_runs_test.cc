// soft_bounce_runs_test.cc -- soft bounces in a row: examples of the rule (asynchronous bounces
// after the server's 250 still make a run; a later message that went through ends it), the
// bounds, and a randomized comparison with a model that keeps every event.
#include "relay/bounce/soft_bounce_runs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

namespace relay::bounce {
namespace {

TEST(SoftBounceRuns, BouncesAfterTheServersAcceptanceStillMakeARun) {
    SoftBounceRuns runs(3, 100);
    // Three messages delivered to the server before any bounce came back: the run is not
    // followed yet, so those deliveries say nothing.
    for (spool::QueueId id : {10, 20, 30}) {
        runs.delivered("r", id);
    }
    EXPECT_EQ(runs.soft_bounce("r", 10), 1u);
    EXPECT_EQ(runs.soft_bounce("r", 10), 1u);  // the same report twice
    EXPECT_EQ(runs.soft_bounce("r", 20), 2u);
    EXPECT_EQ(runs.soft_bounce("r", 30), 3u);  // hard: forgotten
    EXPECT_EQ(runs.keys(), 0u);
}

TEST(SoftBounceRuns, AMessageThatWentThroughInBetweenEndsTheRun) {
    SoftBounceRuns runs(3, 100);
    EXPECT_EQ(runs.soft_bounce("r", 10), 1u);
    runs.delivered("r", 20);                   // went through, never bounced
    runs.delivered("r", 30);                   // went through, bounces below
    EXPECT_EQ(runs.soft_bounce("r", 30), 1u);  // 20 came between 10 and 30: a new run
    EXPECT_EQ(runs.soft_bounce("r", 40), 2u);
    // A delivery reported after a later message's bounce says nothing about the run.
    runs.delivered("r", 35);
    EXPECT_EQ(runs.soft_bounce("r", 50), 3u);
}

TEST(SoftBounceRuns, ADeliveryAfterTheRunEndsItAtTheNextBounce) {
    SoftBounceRuns runs(5, 100);
    EXPECT_EQ(runs.soft_bounce("r", 10), 1u);
    EXPECT_EQ(runs.soft_bounce("r", 20), 2u);
    runs.delivered("r", 30);
    runs.delivered("r", 40);
    EXPECT_EQ(runs.soft_bounce("r", 40), 1u);  // 30 went through before 40 bounced
}

TEST(SoftBounceRuns, OtherRecipientsAndForgetAreIndependent) {
    SoftBounceRuns runs(2, 100);
    EXPECT_EQ(runs.soft_bounce("a", 1), 1u);
    EXPECT_EQ(runs.soft_bounce("b", 2), 1u);
    runs.forget("a");
    EXPECT_EQ(runs.run_of("a"), 0u);
    EXPECT_EQ(runs.soft_bounce("a", 3), 1u);
    EXPECT_EQ(runs.soft_bounce("b", 4), 2u);
}

TEST(SoftBounceRuns, TheStalestRunGoesWhenFull) {
    SoftBounceRuns runs(5, 3);
    runs.soft_bounce("a", 1);
    runs.soft_bounce("b", 2);
    runs.soft_bounce("c", 3);
    runs.soft_bounce("a", 4);  // a is fresh again; b is the stalest
    runs.soft_bounce("d", 5);
    EXPECT_EQ(runs.keys(), 3u);
    EXPECT_EQ(runs.run_of("b"), 0u);
    EXPECT_EQ(runs.run_of("a"), 2u);
    EXPECT_EQ(runs.run_of("d"), 1u);
}

// The model keeps every bounce and delivery of a followed recipient and applies the rule's words
// directly: a soft bounce of Q continues the run unless a message delivered (and not bounced)
// lies strictly between the run's latest bounced message and Q.
class Model {
  public:
    explicit Model(std::uint32_t to_hard) : to_hard_(to_hard) {}
    std::uint32_t soft_bounce(const std::string& key, spool::QueueId id) {
        State& state = states_[key];
        if (state.bounced.contains(id)) {
            return static_cast<std::uint32_t>(state.bounced.size());
        }
        state.ever_bounced.insert(id);
        spool::QueueId last = state.bounced.empty() ? 0 : *state.bounced.rbegin();
        bool broken =
            std::any_of(state.delivered.begin(), state.delivered.end(), [&](spool::QueueId d) {
                return !state.ever_bounced.contains(d) && d > last && d < id;
            });
        if (broken) {
            state.bounced.clear();
        }
        state.bounced.insert(id);
        std::uint32_t length = static_cast<std::uint32_t>(state.bounced.size());
        if (length >= to_hard_) {
            states_.erase(key);
        }
        return length;
    }
    void delivered(const std::string& key, spool::QueueId id) {
        auto found = states_.find(key);
        if (found != states_.end()) {
            found->second.delivered.insert(id);
        }
    }

  private:
    struct State {
        std::set<spool::QueueId> bounced;       // of the current run
        std::set<spool::QueueId> ever_bounced;  // since followed
        std::set<spool::QueueId> delivered;     // since followed
    };
    std::uint32_t to_hard_;
    std::map<std::string, State> states_;
};

TEST(SoftBounceRuns, MatchesTheModelOnRandomEvents) {
    const char* seed_text = std::getenv("RELAY_SOFT_RUNS_SEED");
    std::uint64_t seed =
        seed_text != nullptr ? std::strtoull(seed_text, nullptr, 10) : std::random_device{}();
    SCOPED_TRACE("RELAY_SOFT_RUNS_SEED=" + std::to_string(seed));
    std::mt19937_64 random(seed);
    for (int round = 0; round < 200; ++round) {
        std::uint32_t to_hard = 1 + static_cast<std::uint32_t>(random() % 6);
        SoftBounceRuns runs(to_hard, 1000);
        Model model(to_hard);
        // Each recipient's messages are sent in queue-id order; each is delivered to the server
        // and then may bounce. Events of different messages interleave at random, but a
        // message's bounce comes after its delivery; few deliveries per followed recipient stay
        // within deliveries_per_key_max.
        struct Message {
            std::string key;
            spool::QueueId id;
            bool bounces;
        };
        std::vector<Message> messages;
        spool::QueueId next_id = 1;
        std::map<std::string, int> per_key;
        while (messages.size() < 24) {
            std::string key = "r" + std::to_string(random() % 3);
            if (per_key[key]++ < static_cast<int>(deliveries_per_key_max)) {
                messages.push_back({key, next_id++, random() % 3 != 0});
            }
        }
        std::vector<std::pair<int, bool>> events;  // message index, bounce (else delivery)
        std::vector<bool> delivered(messages.size(), false);
        std::vector<bool> done(messages.size(), false);
        std::size_t window = 0;
        while (true) {
            // A window of messages in flight: those sent so far and not finished.
            while (window < messages.size() && random() % 2 == 0) {
                ++window;
            }
            std::vector<int> open;
            for (std::size_t index = 0; index < window; ++index) {
                if (!done[index]) {
                    open.push_back(static_cast<int>(index));
                }
            }
            if (open.empty()) {
                if (window == messages.size()) {
                    break;
                }
                ++window;
                continue;
            }
            int pick = open[random() % open.size()];
            if (!delivered[pick]) {
                delivered[pick] = true;
                done[pick] = !messages[pick].bounces;
                events.emplace_back(pick, false);
            } else {
                done[pick] = true;
                events.emplace_back(pick, true);
            }
        }
        for (auto [index, bounce] : events) {
            const Message& message = messages[index];
            if (bounce) {
                ASSERT_EQ(runs.soft_bounce(message.key, message.id),
                          model.soft_bounce(message.key, message.id))
                    << "round " << round << " message " << message.id;
            } else {
                runs.delivered(message.key, message.id);
                model.delivered(message.key, message.id);
            }
        }
    }
}

}  // namespace
}  // namespace relay::bounce
