// store_crash_test.cc -- a writer process killed with SIGKILL at random points, inside its
// transactions and commits as well as between them: the store must open again, hold a state
// that every committed write could have produced, and keep every write that had returned.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "store_test_support.h"

namespace relay::store {
namespace {

class StoreCrashTest : public testing::StoreFixture {};

// The child: writes without end, reporting each committed generation through `report`.
[[noreturn]] void write_forever(const std::string& folder, int report, std::uint64_t first) {
    auto opened = open_lmdb_tenant_store({folder, 64ull << 20});
    if (!opened) {
        ::_exit(2);
    }
    TenantStore& store = *opened.value();
    std::uint64_t ready = 0;  // opened: from here on every moment is a write in progress
    if (::write(report, &ready, sizeof ready) != sizeof ready) {
        ::_exit(3);
    }
    // Reports the generation after each write that returned.
    auto wrote = [&](const Status&) {
        auto generation = store.generation();
        std::uint64_t value = generation ? *generation : 0;
        if (::write(report, &value, sizeof value) != sizeof value) {
            ::_exit(3);
        }
    };
    for (std::uint64_t index = first;; ++index) {
        std::string project = "p" + std::to_string(index);
        std::string resource = project + "/r";
        wrote(store.add_project(project, {2, 2}));
        wrote(store.add_resource(resource, "hash" + std::to_string(index)));
        wrote(store.add_domain(resource, "d" + std::to_string(index % 50) + ".example"));
        wrote(store.set_password(resource, "new" + std::to_string(index)));
        if (index % 4 == 0) {
            wrote(store.remove_project("p" + std::to_string(index - 1)));
        }
    }
}

void expect_consistent(const TenantData& data) {
    std::map<std::string, const ProjectRecord*> projects;
    for (const ProjectRecord& project : data.projects) {
        projects[project.name] = &project;
    }
    std::map<std::string, std::size_t> resources_per_project;
    std::set<std::string> domains;
    for (const ResourceRecord& resource : data.resources) {
        ASSERT_TRUE(projects.contains(resource.project)) << resource.username();
        ++resources_per_project[resource.project];
        ASSERT_LE(resource.domains.size(), projects[resource.project]->domains_max);
        ASSERT_LE(resource.password_generation, data.generation);
        for (const std::string& domain : resource.domains) {
            ASSERT_TRUE(domains.insert(domain).second) << domain << " on two resources";
        }
    }
    for (const auto& [project, count] : resources_per_project) {
        ASSERT_LE(count, projects[project]->resources_max) << project;
    }
}

TEST_F(StoreCrashTest, KilledWriterLeavesACommittedState) {
    const char* seed_text = std::getenv("RELAY_TEST_SEED");
    std::uint64_t seed = seed_text ? std::strtoull(seed_text, nullptr, 10) : std::random_device{}();
    std::cout << "RELAY_TEST_SEED=" << seed << "\n";
    std::mt19937_64 random(seed);
    std::string folder = (root_ / "store").string();
    std::uint64_t committed = 0;
    int rounds_with_commits = 0;
    for (int round = 0; round < 40; ++round) {
        store_.reset();  // an LMDB environment must not cross fork()
        int pipe_fds[2];
        ASSERT_EQ(::pipe(pipe_fds), 0);
        pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            ::close(pipe_fds[0]);
            write_forever(folder, pipe_fds[1], static_cast<std::uint64_t>(round) * 100000);
        }
        ::close(pipe_fds[1]);
        std::uint64_t reported = 0;
        ASSERT_EQ(::read(pipe_fds[0], &reported, sizeof reported), sizeof reported);
        ::usleep(std::uniform_int_distribution<useconds_t>(0, 30000)(random));
        ::kill(child, SIGKILL);
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the writer ended by itself: " << status;
        std::uint64_t before = committed;
        while (::read(pipe_fds[0], &reported, sizeof reported) == sizeof reported) {
            committed = std::max(committed, reported);
        }
        rounds_with_commits += committed > before ? 1 : 0;
        ::close(pipe_fds[0]);
        reopen();
        TenantData data = this->data();
        ASSERT_GE(data.generation, committed) << "a write that had returned was lost";
        ASSERT_NO_FATAL_FAILURE(expect_consistent(data)) << "round " << round;
        ASSERT_TRUE(store_->add_project("probe", {}));  // the writer's lock was released
        ASSERT_TRUE(store_->remove_project("probe"));
        committed = data.generation + 2;
    }
    std::cout << "rounds in which the writer committed before its kill: " << rounds_with_commits
              << " of 40\n";
    EXPECT_GE(rounds_with_commits, 10) << "too few writes committed to mean anything";
}

}  // namespace
}  // namespace relay::store
