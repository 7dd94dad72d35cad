// lease_model_test.cc -- a randomized model of the fleet's leases: several simulated nodes, each
// with its real LeasedBudget and LeaseBook, against a simulated Redis that runs the lease
// script's rules (lease_script.h) on arguments built by lease_script_call, with random delays,
// lost requests and replies, outages and takings given back. Checks that no window of the
// limit's length holds more than `messages` admissions (in real time, the nodes' and Redis's
// clocks being offset from it and from each other) and that, once demand stops, every slot
// comes free again: no budget is lost for good.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <sstream>

#include "relay/cluster/lease_book.h"
#include "relay/cluster/lease_script.h"

namespace relay::cluster {
namespace {

// The lease script's rules, on a map instead of Redis keys (limit changes left out).
class SimulatedScript {
  public:
    SimulatedScript(std::uint32_t messages, std::int64_t window_ms)
        : scores_(messages, 0), window_ms_(window_ms) {}

    RedisReply run(const ScriptCall& call, std::int64_t now) {
        const std::vector<std::string>& argv = call.arguments;
        std::int64_t lease_ms = std::stoll(argv[2]);
        std::uint32_t want = static_cast<std::uint32_t>(std::stoul(argv[3]));
        const std::string& node = argv[4];
        std::size_t count = std::stoul(argv[5]);
        for (std::size_t r = 0; r < count; ++r) {
            std::uint32_t slot = static_cast<std::uint32_t>(std::stoul(argv[6 + 3 * r]));
            const std::string& lease = argv[7 + 3 * r];
            std::int64_t age = std::stoll(argv[8 + 3 * r]);
            auto found = records_.find(slot);
            if (found != records_.end() && found->second.id == lease &&
                found->second.node == node) {
                scores_[slot] = age < 0 ? found->second.before
                                        : std::min(found->second.end, now - age) + window_ms_;
                records_.erase(found);
            }
        }
        std::uint32_t free = 0;
        for (std::int64_t score : scores_) {
            free += score <= now ? 1 : 0;
        }
        std::uint32_t grant = std::min(want, free);
        if (grant > 1 && grant * 2 > free) {
            grant = std::max<std::uint32_t>(1, free / 2);
        }
        std::string id = std::to_string(now) + "." + std::to_string(++next_);
        RedisReply reply{RedisReply::Type::array, 0, {}, {}};
        reply.elements.push_back(RedisReply{RedisReply::Type::text, 0, id, {}});
        reply.elements.push_back(RedisReply{RedisReply::Type::integer, free - grant, {}, {}});
        reply.elements.push_back(RedisReply{RedisReply::Type::integer, 0, {}, {}});
        reply.elements.push_back(RedisReply{RedisReply::Type::integer, 0, {}, {}});
        std::uint32_t granted = 0;
        for (std::uint32_t slot = 0; slot < scores_.size() && granted < grant; ++slot) {
            if (scores_[slot] <= now) {
                records_[slot] = Record{id, node, scores_[slot], now + lease_ms};
                scores_[slot] = now + lease_ms + window_ms_;
                reply.elements.push_back(RedisReply{RedisReply::Type::integer, slot, {}, {}});
                ++granted;
            }
        }
        std::int64_t earliest = *std::min_element(scores_.begin(), scores_.end());
        reply.elements[2].integer = std::max<std::int64_t>(0, earliest - now);
        reply.elements[3].integer = static_cast<std::int64_t>(records_.size());
        return reply;
    }

    std::uint32_t busy(std::int64_t now) const {
        return static_cast<std::uint32_t>(
            std::count_if(scores_.begin(), scores_.end(), [now](auto s) { return s > now; }));
    }

  private:
    struct Record {
        std::string id;
        std::string node;
        std::int64_t before = 0;
        std::int64_t end = 0;
    };
    std::vector<std::int64_t> scores_;
    std::map<std::uint32_t, Record> records_;
    std::int64_t window_ms_;
    std::uint64_t next_ = 0;
};

struct Node {
    std::string id;
    std::int64_t clock_offset_ms = 0;
    std::shared_ptr<policy::LeasedBudget> budget;
    std::unique_ptr<LeaseBook> book;
    double demand = 0;  // takings tried per ms
};

struct Message {  // a request or a reply on its way
    std::int64_t arrive_at = 0;
    std::size_t node = 0;
    bool is_reply = false;
    bool lost = false;
    ScriptCall call;
    RedisReply reply;
    std::int64_t sent_local = 0;
};

struct GiveBack {
    std::int64_t at = 0;
    std::size_t node = 0;
    policy::LeasedUnit unit;
    std::size_t admission = 0;
};

void run_model(std::uint64_t seed) {
    std::mt19937_64 random(seed);
    auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(random) < p; };
    auto between = [&](std::int64_t low, std::int64_t high) {
        return std::uniform_int_distribution<std::int64_t>(low, high)(random);
    };
    const std::uint32_t messages = static_cast<std::uint32_t>(between(1, 40));
    const std::int64_t window_ms = between(1, 5) * 1000;
    const std::int64_t lease_ms = between(200, 3000);
    const std::size_t node_count = static_cast<std::size_t>(between(2, 5));
    const std::int64_t redis_offset_ms = between(1000000, 5000000);
    SimulatedScript script(messages, window_ms);
    std::vector<Node> nodes(node_count);
    for (std::size_t index = 0; index < node_count; ++index) {
        Node& node = nodes[index];
        node.id = "node" + std::to_string(index);
        node.clock_offset_ms = between(1000000, 9000000);
        node.budget = std::make_shared<policy::LeasedBudget>(
            "p/r", messages, static_cast<std::uint32_t>(window_ms / 1000),
            static_cast<std::uint32_t>(between(1, 64)));
        LeaseBookOptions options;
        options.lease_ms = lease_ms;
        options.units_max = static_cast<std::uint32_t>(between(1, 64));
        options.used_hold_ms = between(0, 1500);
        node.book = std::make_unique<LeaseBook>(node.budget, options);
        node.demand = std::uniform_real_distribution<>(0.001, 0.05)(random);
    }
    std::deque<Message> wire;
    std::vector<GiveBack> give_backs;
    std::vector<std::int64_t> admitted;  // real ms; -1 once given back
    std::vector<std::pair<std::int64_t, std::int64_t>> outages;
    for (int outage = 0; outage < 3; ++outage) {
        std::int64_t start = between(0, 50000);
        outages.emplace_back(start, start + between(100, 4000));
    }
    auto redis_up = [&](std::int64_t t) {
        return std::none_of(outages.begin(), outages.end(),
                            [t](auto o) { return t >= o.first && t < o.second; });
    };
    const std::int64_t demand_end = 60000;
    const std::int64_t end = demand_end + window_ms + lease_ms + 2000;
    const std::int64_t timeout_ms = 300;
    for (std::int64_t t = 0; t < end; ++t) {
        // Deliveries due now (what they send back joins the wire after the walk).
        std::vector<Message> sent;
        for (auto it = wire.begin(); it != wire.end();) {
            if (it->arrive_at > t) {
                ++it;
                continue;
            }
            Message message = std::move(*it);
            it = wire.erase(it);
            Node& node = nodes[message.node];
            std::int64_t local = t + node.clock_offset_ms;
            if (!message.is_reply) {
                if (message.lost || !redis_up(t)) {
                    // Never ran: the node gives up at its timeout.
                    sent.push_back(Message{message.sent_local - node.clock_offset_ms + timeout_ms,
                                           message.node,
                                           true,
                                           true,
                                           {},
                                           {},
                                           message.sent_local});
                    continue;
                }
                Message reply{t + between(0, 40), message.node, true, chance(0.03), {}, {},
                              message.sent_local};
                reply.reply = script.run(message.call, t + redis_offset_ms);
                if (reply.lost) {
                    reply.arrive_at = message.sent_local - node.clock_offset_ms + timeout_ms;
                }
                sent.push_back(std::move(reply));
                continue;
            }
            if (message.lost) {
                node.book->on_failure();
                continue;
            }
            Result<LeaseGrant> grant = parse_lease_reply(message.reply);
            ASSERT_TRUE(grant);
            node.book->on_grant(grant.value(), message.sent_local, local);
        }
        for (Message& message : sent) {
            wire.push_back(std::move(message));
        }
        // Give-backs due now.
        for (auto it = give_backs.begin(); it != give_backs.end();) {
            if (it->at > t) {
                ++it;
                continue;
            }
            policy::LeasedBudget& budget = *nodes[it->node].budget;
            budget.give_back(it->unit);
            if (budget.entry_state(it->unit.entry).word == it->unit.available_word) {
                admitted[it->admission] = -1;
            }
            it = give_backs.erase(it);
        }
        for (std::size_t index = 0; index < node_count; ++index) {
            Node& node = nodes[index];
            std::int64_t local = t + node.clock_offset_ms;
            bool wake = false;
            if (t < demand_end && chance(node.demand)) {
                if (std::optional<policy::LeasedUnit> unit = node.budget->take(local)) {
                    admitted.push_back(t);
                    if (chance(0.1)) {
                        give_backs.push_back(
                            GiveBack{t + between(0, 2000), index, *unit, admitted.size() - 1});
                    }
                } else {
                    wake = node.budget->note_starved();
                }
            }
            if (wake || (t % 10) == 0) {
                bool up = redis_up(t) || chance(0.5);  // the node's view lags
                if (std::optional<LeaseRequest> request = node.book->next_request(local, up)) {
                    wire.push_back(Message{t + between(0, 40),
                                           index,
                                           false,
                                           chance(0.03),
                                           lease_script_call(*request, node.id, lease_ms, local),
                                           {},
                                           local});
                }
            }
        }
    }
    // At most `messages` admissions in any window (t - window, t].
    std::vector<std::int64_t> times;
    for (std::int64_t at : admitted) {
        if (at >= 0) {
            times.push_back(at);
        }
    }
    std::sort(times.begin(), times.end());
    std::size_t first = 0;
    for (std::size_t last = 0; last < times.size(); ++last) {
        while (times[first] <= times[last] - window_ms) {
            ++first;
        }
        ASSERT_LE(last - first + 1, messages)
            << "seed " << seed << ": window ending at " << times[last];
    }
    // Demand was there: the fleet admitted something, and after it stopped every slot is free.
    EXPECT_GT(times.size(), 0U) << "seed " << seed;
    EXPECT_EQ(script.busy(end + redis_offset_ms), 0U) << "seed " << seed;
}

TEST(LeaseModel, FleetNeverExceedsTheLimitAndLosesNoBudget) {
    for (std::uint64_t seed = 1; seed <= 60; ++seed) {
        run_model(seed);
        if (HasFatalFailure()) {
            return;
        }
    }
}

}  // namespace
}  // namespace relay::cluster
