// store_model_test.cc -- random changes to the tenant store against a plain in-memory model.
//
// Small pools of names make conflicts, quota hits and cascades frequent. After every step the
// store must have accepted or refused exactly as the model did, and hold exactly the model's
// tenants; every few steps the store is closed and opened again from its files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "store_test_support.h"

namespace relay::store {
namespace {

struct ModelResource {
    std::string hash;
    std::set<std::string> domains;
};

struct Model {
    std::map<std::string, ProjectRecord> projects;
    std::map<std::string, ModelResource> resources;  // by username
    std::uint64_t generation = 0;

    std::size_t resources_of(const std::string& project) const {
        std::size_t count = 0;
        for (const auto& [username, resource] : resources) {
            count += username.substr(0, username.find('/')) == project ? 1 : 0;
        }
        return count;
    }
    bool owned(const std::string& domain) const {
        for (const auto& [username, resource] : resources) {
            if (resource.domains.contains(domain)) {
                return true;
            }
        }
        return false;
    }
    void erase_project(const std::string& project) {
        std::erase_if(resources, [&](const auto& entry) {
            return entry.first.substr(0, entry.first.find('/')) == project;
        });
        projects.erase(project);
    }
};

std::uint64_t seed_from_environment() {
    const char* text = std::getenv("RELAY_STORE_MODEL_SEED");
    return text != nullptr ? std::strtoull(text, nullptr, 10) : std::random_device{}();
}

std::size_t steps_from_environment() {
    const char* text = std::getenv("RELAY_STORE_MODEL_STEPS");
    return text != nullptr ? std::strtoull(text, nullptr, 10) : 3000;
}

class StoreModelTest : public testing::StoreFixture {
  protected:
    std::string pick(const char* prefix, int count) {
        return prefix + std::to_string(std::uniform_int_distribution<int>(0, count - 1)(random_));
    }
    std::uint32_t quota() { return std::uniform_int_distribution<std::uint32_t>(1, 4)(random_); }

    // One random change, applied to both; returns what the model says should have happened.
    void step();
    void compare();

    std::mt19937_64 random_;
    Model model_;
};

void StoreModelTest::step() {
    std::string project = pick("p", 3);
    std::string username = project + "/" + pick("r", 3);
    std::string domain = pick("d", 8) + ".example";
    int action = std::uniform_int_distribution<int>(0, 8)(random_);
    bool expected = false;
    Status actual;
    switch (action) {
        case 0: {
            QuotaChange change{quota(), quota()};
            expected = !model_.projects.contains(project);
            if (expected) {
                model_.projects[project] = {project, *change.resources_max, *change.domains_max};
            }
            actual = store_->add_project(project, change);
            break;
        }
        case 1:
            expected = model_.projects.contains(project);
            if (expected) {
                model_.erase_project(project);
            }
            actual = store_->remove_project(project);
            break;
        case 2: {
            QuotaChange change{quota(), quota()};
            auto found = model_.projects.find(project);
            expected = found != model_.projects.end() &&
                       model_.resources_of(project) <= *change.resources_max;
            for (const auto& [name, resource] : model_.resources) {
                if (name.substr(0, name.find('/')) == project &&
                    resource.domains.size() > *change.domains_max) {
                    expected = false;
                }
            }
            if (expected) {
                found->second.resources_max = *change.resources_max;
                found->second.domains_max = *change.domains_max;
            }
            actual = store_->set_quota(project, change);
            break;
        }
        case 3: {
            auto found = model_.projects.find(project);
            expected = found != model_.projects.end() && !model_.resources.contains(username) &&
                       model_.resources_of(project) < found->second.resources_max;
            std::string hash = "h" + std::to_string(random_());
            if (expected) {
                model_.resources[username] = {hash, {}};
            }
            actual = store_->add_resource(username, hash);
            break;
        }
        case 4:
            expected = model_.resources.erase(username) == 1;
            actual = store_->remove_resource(username);
            break;
        case 5: {
            std::string hash = "h" + std::to_string(random_());
            auto found = model_.resources.find(username);
            expected = found != model_.resources.end();
            if (expected) {
                found->second.hash = hash;
            }
            actual = store_->set_password(username, hash);
            break;
        }
        case 6:
        case 7: {
            auto found = model_.resources.find(username);
            expected = found != model_.resources.end() && !model_.owned(domain) &&
                       found->second.domains.size() < model_.projects[project].domains_max;
            if (expected) {
                found->second.domains.insert(domain);
            }
            actual = store_->add_domain(username, domain);
            break;
        }
        default: {
            auto found = model_.resources.find(username);
            expected = found != model_.resources.end() && found->second.domains.erase(domain) == 1;
            actual = store_->remove_domain(username, domain);
            break;
        }
    }
    ASSERT_EQ(actual.ok(), expected) << "action " << action << " on " << username << " " << domain
                                     << ": " << (actual ? "" : actual.error().message);
    model_.generation += expected ? 1 : 0;
}

void StoreModelTest::compare() {
    TenantData tenants = data();
    ASSERT_EQ(tenants.generation, model_.generation);
    ASSERT_EQ(tenants.projects.size(), model_.projects.size());
    for (const ProjectRecord& project : tenants.projects) {
        const ProjectRecord& expected = model_.projects.at(project.name);
        ASSERT_EQ(project.resources_max, expected.resources_max);
        ASSERT_EQ(project.domains_max, expected.domains_max);
    }
    ASSERT_EQ(tenants.resources.size(), model_.resources.size());
    for (const ResourceRecord& resource : tenants.resources) {
        const ModelResource& expected = model_.resources.at(resource.username());
        ASSERT_EQ(resource.password_hash, expected.hash);
        ASSERT_EQ(std::set<std::string>(resource.domains.begin(), resource.domains.end()),
                  expected.domains);
        ASSERT_LE(resource.password_generation, tenants.generation);
    }
}

TEST_F(StoreModelTest, RandomChangesMatchTheModel) {
    std::uint64_t seed = seed_from_environment();
    std::cout << "RELAY_STORE_MODEL_SEED=" << seed << "\n";
    random_.seed(seed);
    model_.generation = *store_->generation();
    std::size_t steps = steps_from_environment();
    for (std::size_t index = 0; index < steps; ++index) {
        ASSERT_NO_FATAL_FAILURE(step()) << "step " << index;
        ASSERT_NO_FATAL_FAILURE(compare()) << "step " << index;
        if (std::uniform_int_distribution<int>(0, 49)(random_) == 0) {
            reopen();
            ASSERT_NO_FATAL_FAILURE(compare()) << "after reopening at step " << index;
        }
    }
}

}  // namespace
}  // namespace relay::store
