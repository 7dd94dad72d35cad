// stop_list_replica_model_test.cc -- cluster mode's stop lists against a real redis-server: two
// writers (two nodes' RedisStopLists, one of them also removing and adding the resource back
// through the shared tenant store) make random adds, removals and bulk adds, with expiries in
// the past and the future, while two replicas (two nodes' LMDB stores) catch up at random
// moments, lose their connections (CLIENT KILL) and find the log trimmed under them (XTRIM).
// After each replica's catch-up its lists must equal the model's exactly.
//
// The redis-server is Debian's, started by the fixture on a free loopback port (no password,
// no persistence, its own folder); without /usr/bin/redis-server the test is skipped.
// RELAY_REPLICA_MODEL_STEPS=N for a longer run, RELAY_REPLICA_MODEL_SEED=N to repeat one.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "lmdb_stop_lists.h"
#include "redis_connection.h"
#include "redis_stop_lists.h"
#include "relay/store/lmdb_tenant_store.h"
#include "relay/store/redis_tenant_store.h"
#include "stop_list_replica.h"

namespace relay::store {
namespace {

using internal::RedisConnection;
using internal::RedisConnectionOptions;

constexpr const char* redis_server = "/usr/bin/redis-server";
constexpr const char* resource = "acme/main";

std::uint64_t from_environment(const char* name, std::uint64_t otherwise) {
    const char* text = std::getenv(name);
    return text != nullptr ? std::strtoull(text, nullptr, 10) : otherwise;
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                 ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0;
    ::close(fd);
    return bound ? ntohs(address.sin_port) : 0;
}

// scope, field -> value (the replica's own encoding of an entry)
using Model = std::map<std::pair<std::string, std::string>, std::string>;

class ReplicaModelTest : public testing::Test {
  protected:
    void SetUp() override {
        if (::access(redis_server, X_OK) != 0) {
            GTEST_SKIP() << redis_server << " is not installed (packages_test)";
        }
        root_ = std::filesystem::temp_directory_path() /
                ("relay-replica-" + std::to_string(::getpid()));
        std::filesystem::create_directories(root_);
        port_ = free_port();
        ASSERT_NE(port_, 0);
        server_ = ::fork();
        if (server_ == 0) {
            std::string port = std::to_string(port_);
            std::string folder = root_.string();
            ::execl(redis_server, redis_server, "--port", port.c_str(), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", folder.c_str(), "--logfile",
                    "redis.log", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        admin_ = std::make_unique<RedisConnection>(options());
        for (int attempt = 0; attempt < 200; ++attempt) {
            if (auto pong = admin_->command({"PING"}); pong && pong->text == "PONG") {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        FAIL() << "redis-server did not answer PING";
    }
    void TearDown() override {
        admin_.reset();
        if (server_ > 0) {
            ::kill(server_, SIGTERM);
            ::waitpid(server_, nullptr, 0);
        }
        std::error_code ignored;
        std::filesystem::remove_all(root_, ignored);
    }

    RedisConnectionOptions options() const {
        return {"127.0.0.1:" + std::to_string(port_), "", 1000, 1000};
    }

    std::filesystem::path root_;
    int port_ = 0;
    pid_t server_ = -1;
    std::unique_ptr<RedisConnection> admin_;
};

// A list read whose connection was killed fails before Redis saw it: it is read again.
Model contents(StopListStore& lists) {
    Model found;
    for (const std::string& scope : {std::string(), std::string(resource)}) {
        auto visit = [&](const StopEntry& entry) {
            found[{entry.scope, internal::stop_field(entry.address)}] = internal::stop_value(entry);
        };
        Status listed = lists.for_each_stop(scope, visit);
        if (!listed) {
            listed = lists.for_each_stop(scope, visit);
        }
        EXPECT_TRUE(listed.ok()) << listed.error().message;
    }
    return found;
}

TEST_F(ReplicaModelTest, ReplicasConvergeToTheModel) {
    std::uint64_t seed = from_environment("RELAY_REPLICA_MODEL_SEED", std::random_device{}());
    std::uint64_t steps = from_environment("RELAY_REPLICA_MODEL_STEPS", 1500);
    SCOPED_TRACE("RELAY_REPLICA_MODEL_SEED=" + std::to_string(seed));
    std::mt19937_64 random(seed);
    auto chance = [&](int percent) {
        return std::uniform_int_distribution<int>(1, 100)(random) <= percent;
    };

    // Two nodes: each a shared store over its own LMDB store, whose stop lists (what the
    // workers read) a replica follows.
    std::vector<std::unique_ptr<TenantStore>> nodes;
    std::vector<TenantStore*> locals_of_nodes;
    std::vector<std::unique_ptr<internal::StopListReplica>> replicas;
    for (int node = 0; node < 2; ++node) {
        auto local = open_lmdb_tenant_store(
            {(root_ / ("node" + std::to_string(node))).string(), 64ull << 20});
        ASSERT_TRUE(local) << local.error().message;
        locals_of_nodes.push_back(local.value().get());
        replicas.push_back(std::make_unique<internal::StopListReplica>(
            options(), *internal::lmdb_stop_lists(*local.value())));
        RedisStoreOptions shared{options().address, "", 1000, 1000};
        nodes.push_back(open_redis_tenant_store(shared, std::move(local.value())));
    }
    ASSERT_TRUE(nodes[0]->add_project("acme", {}).ok());
    ASSERT_TRUE(nodes[0]->add_resource(resource, "$argon2id$x").ok());
    bool resource_exists = true;

    Model model;
    const std::vector<std::string> locals = {"a", "b", "", "x.y"};
    const std::vector<std::string> domains = {"example.net", "example.org"};
    auto random_entry = [&] {
        StopEntry entry;
        entry.scope = resource_exists && chance(50) ? resource : "";
        entry.address = {domains[random() % domains.size()], locals[random() % locals.size()]};
        entry.reason = static_cast<StopReason>(random() % 4);
        entry.added_s = 1'700'000'000 + random() % 1000;
        // Past, future or never: expiry is the entry's data, replicated as it is.
        entry.expires_s = chance(30) ? 0 : 1'700'000'000 + random() % 2000;
        return entry;
    };
    // A write that finds its connection killed fails before Redis saw it: it is made again.
    auto retried = [](auto write) {
        auto result = write();
        return result ? result : write();
    };

    for (std::uint64_t step = 0; step < steps; ++step) {
        TenantStore& writer = *nodes[random() % 2];
        int action = static_cast<int>(random() % 100);
        if (action < 40) {
            StopEntry entry = random_entry();
            ASSERT_TRUE(retried([&] { return writer.stop_lists().add_stop(entry); }).ok());
            model[{entry.scope, internal::stop_field(entry.address)}] = internal::stop_value(entry);
        } else if (action < 50) {
            std::vector<StopEntry> batch;
            batch.reserve(5);
            for (int index = 0; index < 5; ++index) {
                batch.push_back(random_entry());
            }
            ASSERT_TRUE(retried([&] { return writer.stop_lists().add_stops(batch); }).ok());
            for (const StopEntry& entry : batch) {
                model[{entry.scope, internal::stop_field(entry.address)}] =
                    internal::stop_value(entry);
            }
        } else if (action < 70) {
            StopEntry entry = random_entry();
            auto removed = retried(
                [&] { return writer.stop_lists().remove_stop(entry.scope, entry.address); });
            ASSERT_TRUE(removed) << removed.error().message;
            auto key = std::make_pair(entry.scope, internal::stop_field(entry.address));
            EXPECT_EQ(removed.value(), model.erase(key) == 1);
        } else if (action < 73) {
            if (resource_exists) {
                ASSERT_TRUE(retried([&] { return writer.remove_resource(resource); }).ok());
                std::erase_if(model, [](const auto& row) { return row.first.first == resource; });
            } else {
                ASSERT_TRUE(
                    retried([&] { return writer.add_resource(resource, "$argon2id$x"); }).ok());
            }
            resource_exists = !resource_exists;
        } else if (action < 78) {
            ASSERT_TRUE(admin_->command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}));
        } else if (action < 81) {
            // Trimmed to a few entries: a replica further behind must reload.
            ASSERT_TRUE(admin_->command(
                {"XTRIM", "relay:{tenants}:stop-log", "MAXLEN", std::to_string(random() % 4)}));
        } else {
            internal::StopListReplica& replica = *replicas[random() % 2];
            Status caught = replica.catch_up();
            if (!caught) {
                caught = replica.catch_up();  // its connection was killed
            }
            ASSERT_TRUE(caught.ok()) << caught.error().message;
            std::size_t index = &replica == replicas[0].get() ? 0 : 1;
            ASSERT_EQ(contents(locals_of_nodes[index]->stop_lists()), model) << "step " << step;
        }
    }
    for (std::size_t index = 0; index < replicas.size(); ++index) {
        Status caught = replicas[index]->catch_up();
        if (!caught) {
            caught = replicas[index]->catch_up();
        }
        ASSERT_TRUE(caught.ok()) << caught.error().message;
        EXPECT_EQ(contents(locals_of_nodes[index]->stop_lists()), model);
        // The writers' own view of the lists reads Redis: the same.
        EXPECT_EQ(contents(nodes[index]->stop_lists()), model);
    }
}

}  // namespace
}  // namespace relay::store
