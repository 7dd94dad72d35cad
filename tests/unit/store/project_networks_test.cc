// project_networks_test.cc -- a project's client networks in the store: set, cleared, kept
// across reopening, read from records written before projects had networks, and refused when a
// network does not parse.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store_test_support.h"

namespace relay::store {
namespace {

class ProjectNetworksTest : public testing::StoreFixture {
  protected:
    std::vector<std::string> networks_of(const std::string& project) {
        for (const ProjectRecord& record : data().projects) {
            if (record.name == project) {
                return record.networks;
            }
        }
        ADD_FAILURE() << "no project " << project;
        return {};
    }

    void put_raw_project(const std::string& key, const std::string& value) {
        put_raw("projects", key, value);
    }
};

TEST_F(ProjectNetworksTest, NewProjectHasNone) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    EXPECT_TRUE(networks_of("acme").empty());
}

TEST_F(ProjectNetworksTest, SetKeepsCanonicalFormsOnceAndSurvivesReopening) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    Status set = store_->set_networks(
        "acme", {"192.0.2.0/24", "2001:DB8:0::/32", "198.51.100.7", "192.0.2.0/24"});
    ASSERT_TRUE(set) << set.error().message;
    std::vector<std::string> expected{"192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"};
    EXPECT_EQ(networks_of("acme"), expected);
    reopen();
    EXPECT_EQ(networks_of("acme"), expected);
}

TEST_F(ProjectNetworksTest, EmptyListClears) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    ASSERT_TRUE(store_->set_networks("acme", {"10.0.0.0/8"}));
    ASSERT_TRUE(store_->set_networks("acme", {}));
    EXPECT_TRUE(networks_of("acme").empty());
}

TEST_F(ProjectNetworksTest, QuotaChangeKeepsNetworks) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    ASSERT_TRUE(store_->set_networks("acme", {"10.0.0.0/8"}));
    ASSERT_TRUE(store_->set_quota("acme", {5, 7}));
    EXPECT_EQ(networks_of("acme"), std::vector<std::string>{"10.0.0.0/8"});
}

TEST_F(ProjectNetworksTest, BadNetworkIsRefusedWithTheConfigTextAndChangesNothing) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    ASSERT_TRUE(store_->set_networks("acme", {"10.0.0.0/8"}));
    std::uint64_t before = store_->generation().value();
    Status host_bits = store_->set_networks("acme", {"192.0.2.0/24", "10.0.0.1/8"});
    ASSERT_FALSE(host_bits);
    EXPECT_EQ(host_bits.error().message,
              "project acme networks: has bits set after the prefix length (got \"10.0.0.1/8\"; "
              "did you mean 10.0.0.0/8?)");
    Status garbage = store_->set_networks("acme", {"mail.example"});
    ASSERT_FALSE(garbage);
    EXPECT_EQ(garbage.error().message,
              "project acme networks: must be a network \"ADDRESS/BITS\" (got \"mail.example\")");
    Status too_long = store_->set_networks("acme", {"::/129"});
    ASSERT_FALSE(too_long);
    EXPECT_EQ(too_long.error().message,
              "project acme networks: the prefix length must be a number from 0 to 128 (got "
              "\"::/129\")");
    EXPECT_EQ(networks_of("acme"), std::vector<std::string>{"10.0.0.0/8"});
    EXPECT_EQ(store_->generation().value(), before);
}

TEST_F(ProjectNetworksTest, UnknownProjectIsRefused) {
    Status set = store_->set_networks("nope", {"10.0.0.0/8"});
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().message, "no project nope");
}

TEST_F(ProjectNetworksTest, RecordWrittenBeforeNetworksReadsAsNone) {
    put_raw_project("old", R"({"resources_max":2,"domains_max":5})");
    TenantData tenants = data();
    ASSERT_EQ(tenants.projects.size(), 1u);
    EXPECT_EQ(tenants.projects[0].resources_max, 2u);
    EXPECT_EQ(tenants.projects[0].domains_max, 5u);
    EXPECT_TRUE(tenants.projects[0].networks.empty());
    // And it can be narrowed like any other.
    ASSERT_TRUE(store_->set_networks("old", {"10.0.0.0/8"}));
    EXPECT_EQ(networks_of("old"), std::vector<std::string>{"10.0.0.0/8"});
}

TEST_F(ProjectNetworksTest, DamagedNetworksAreReportedNotServed) {
    put_raw_project("bad", R"({"resources_max":1,"domains_max":3,"networks":"10.0.0.0/8"})");
    auto loaded = store_->load();
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().message, "the store holds a damaged project record \"bad\"");
}

}  // namespace
}  // namespace relay::store
