// stop_list_model_test.cc -- random stop-list changes and lookups against a std::map model.
//
// Small pools make every case frequent: the same address written in other cases of its domain,
// whole-domain entries over address entries, the global list under a resource's, entries that
// expire as the clock moves, resources removed (their entries with them) and added again, bulk
// adds, and reopening the store from its files. After every step the store must have accepted
// or refused as the model did; every lookup must find exactly the entry the model finds, through
// a long-lived reader and through find_stop, and every list must equal the model's.
//
// RELAY_STOP_MODEL_STEPS=N for a longer run, RELAY_STOP_MODEL_SEED=N to repeat one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <tuple>

#include "relay/store/stop_list.h"
#include "store_test_support.h"

namespace relay::store {
namespace {

using Key = std::tuple<std::string, std::string, std::string>;  // scope, domain, local

struct Value {
    StopReason reason;
    std::uint64_t expires_s;
};

std::uint64_t from_environment(const char* name, std::uint64_t otherwise) {
    const char* text = std::getenv(name);
    return text != nullptr ? std::strtoull(text, nullptr, 10) : otherwise;
}

std::string lower(std::string text) {
    for (char& c : text) {
        c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return text;
}

class StopListModelTest : public testing::StoreFixture {
  protected:
    template <class T>
    const T& pick(const std::vector<T>& pool) {
        return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(random_)];
    }
    // A recipient or entry address: local parts differ in case only, domains in case too.
    std::string address(bool allow_whole_domain) {
        static const std::vector<std::string> locals = {"a", "A", "b", "x.y"};
        static const std::vector<std::string> domains = {"example.net", "Example.NET",
                                                         "example.org", "sub.example.org"};
        bool whole = allow_whole_domain && std::uniform_int_distribution<int>(0, 3)(random_) == 0;
        return (whole ? "" : pick(locals)) + "@" + pick(domains);
    }
    StopEntry random_entry(const std::string& scope) {
        StopAddress parsed = parse_stop_address(address(true)).value();
        auto reason = static_cast<StopReason>(std::uniform_int_distribution<int>(0, 3)(random_));
        // Half never expire; the rest expire somewhere around the clock.
        std::uint64_t expires_s =
            std::uniform_int_distribution<int>(0, 1)(random_) == 0
                ? 0
                : now_s_ + std::uniform_int_distribution<int>(-5, 20)(random_);
        return StopEntry{scope, parsed, reason, now_s_, expires_s};
    }

    // What the model finds: resource address, resource domain, global address, global domain.
    std::optional<Key> model_find(const std::string& username, const std::string& recipient) {
        std::size_t at = recipient.rfind('@');
        std::string domain = lower(recipient.substr(at + 1));
        std::string local = recipient.substr(0, at);
        for (const std::string& scope : {username, std::string()}) {
            for (const std::string& part : {local, std::string()}) {
                Key key{scope, domain, part};
                auto found = model_.find(key);
                if (found != model_.end() &&
                    (found->second.expires_s == 0 || found->second.expires_s > now_s_)) {
                    return key;
                }
            }
        }
        return std::nullopt;
    }

    void step();
    void compare_lists();

    std::mt19937_64 random_;
    std::map<Key, Value> model_;
    std::vector<std::string> resources_ = {"acme/main", "acme/other"};
    std::map<std::string, bool> exists_ = {{"acme/main", true}, {"acme/other", true}};
    std::unique_ptr<StopListReader> reader_;
    std::uint64_t now_s_ = 1'800'000'000;
};

void StopListModelTest::step() {
    std::vector<std::string> scopes = {"", "acme/main", "acme/other"};
    const std::string& scope = pick(scopes);
    int action = std::uniform_int_distribution<int>(0, 9)(random_);
    if (action <= 2) {  // add one
        StopEntry entry = random_entry(scope);
        bool expected = scope.empty() || exists_[scope];
        Status actual = store_->stop_lists().add_stop(entry);
        ASSERT_EQ(actual.ok(), expected) << (actual ? "" : actual.error().message);
        if (expected) {
            model_[{scope, entry.address.domain, entry.address.local}] = {entry.reason,
                                                                          entry.expires_s};
        }
    } else if (action == 3) {  // add a batch
        std::vector<StopEntry> batch;
        for (int index = 0; index < 5; ++index) {
            batch.push_back(random_entry(scope));
        }
        bool expected = scope.empty() || exists_[scope];
        ASSERT_EQ(store_->stop_lists().add_stops(batch).ok(), expected);
        for (const StopEntry& entry : batch) {
            if (expected) {
                model_[{scope, entry.address.domain, entry.address.local}] = {entry.reason,
                                                                              entry.expires_s};
            }
        }
    } else if (action == 4) {  // remove
        StopAddress parsed = parse_stop_address(address(true)).value();
        bool expected = model_.erase({scope, parsed.domain, parsed.local}) == 1;
        auto removed = store_->stop_lists().remove_stop(scope, parsed);
        ASSERT_TRUE(removed) << removed.error().message;
        ASSERT_EQ(removed.value(), expected);
    } else if (action <= 7) {  // look up
        std::string username = std::uniform_int_distribution<int>(0, 3)(random_) == 0 ? "" : scope;
        std::string recipient = address(false);
        std::optional<Key> expected = model_find(username, recipient);
        auto match = reader_->find(username, recipient, now_s_);
        ASSERT_TRUE(match) << match.error().message;
        ASSERT_EQ(match.value().has_value(), expected.has_value()) << username << " " << recipient;
        auto entry = store_->stop_lists().find_stop(username, recipient, now_s_);
        ASSERT_TRUE(entry);
        ASSERT_EQ(entry.value().has_value(), expected.has_value());
        if (expected) {
            const auto& [scope_found, domain, local] = *expected;
            ASSERT_EQ(match.value()->global, scope_found.empty());
            ASSERT_EQ(match.value()->whole_domain, local.empty());
            ASSERT_EQ(match.value()->reason, model_[*expected].reason);
            ASSERT_EQ(entry.value()->scope, scope_found);
            ASSERT_EQ(entry.value()->address.domain, domain);
            ASSERT_EQ(entry.value()->address.local, local);
        }
    } else if (action == 8) {  // the clock moves
        now_s_ += std::uniform_int_distribution<int>(0, 4)(random_);
    } else if (!scope.empty()) {  // a resource goes, or comes back with an empty list
        if (exists_[scope]) {
            ASSERT_TRUE(store_->remove_resource(scope));
            std::erase_if(model_,
                          [&](const auto& item) { return std::get<0>(item.first) == scope; });
        } else {
            ASSERT_TRUE(store_->add_resource(scope, "hash"));
        }
        exists_[scope] = !exists_[scope];
    } else {
        reader_.reset();
        reopen();
        reader_ = std::move(store_->stop_lists().reader().value());
    }
}

void StopListModelTest::compare_lists() {
    for (const std::string& scope : {std::string(), resources_[0], resources_[1]}) {
        std::vector<Key> actual;
        ASSERT_TRUE(store_->stop_lists().for_each_stop(scope, [&](const StopEntry& entry) {
            actual.emplace_back(entry.scope, entry.address.domain, entry.address.local);
        }));
        std::vector<Key> expected;
        for (const auto& [key, value] : model_) {
            if (std::get<0>(key) == scope) {
                expected.push_back(key);
            }
        }
        ASSERT_EQ(actual, expected) << "scope \"" << scope << "\"";
    }
}

TEST_F(StopListModelTest, RandomChangesAndLookupsAgreeWithTheModel) {
    std::uint64_t seed = from_environment("RELAY_STOP_MODEL_SEED", std::random_device{}());
    std::uint64_t steps = from_environment("RELAY_STOP_MODEL_STEPS", 3000);
    SCOPED_TRACE("RELAY_STOP_MODEL_SEED=" + std::to_string(seed));
    random_.seed(seed);
    ASSERT_TRUE(store_->add_project("acme", {.resources_max = 2, .domains_max = {}}));
    ASSERT_TRUE(store_->add_resource("acme/main", "hash"));
    ASSERT_TRUE(store_->add_resource("acme/other", "hash"));
    reader_ = std::move(store_->stop_lists().reader().value());
    for (std::uint64_t index = 0; index < steps; ++index) {
        ASSERT_NO_FATAL_FAILURE(step()) << "step " << index;
        if (index % 50 == 0) {
            ASSERT_NO_FATAL_FAILURE(compare_lists()) << "step " << index;
        }
    }
    ASSERT_NO_FATAL_FAILURE(compare_lists());
    reader_.reset();
}

}  // namespace
}  // namespace relay::store
