// store_test.cc -- the tenant rules of the LMDB store: quotas, conflicts, cascades, durability.
#include <gtest/gtest.h>

#include "relay/store/tenant_names.h"
#include "store_test_support.h"

namespace relay::store {
namespace {

using testing::StoreFixture;

class TenantStoreTest : public StoreFixture {
  protected:
    void add_resource(const std::string& username, const std::string& hash = "$argon2id$x") {
        Status added = store_->add_resource(username, hash);
        ASSERT_TRUE(added) << added.error().message;
    }
    void add_domain(const std::string& username, const std::string& domain) {
        Status added = store_->add_domain(username, domain);
        ASSERT_TRUE(added) << added.error().message;
    }
    std::string error_of(const Status& status) {
        EXPECT_FALSE(status);
        return status ? "" : status.error().message;
    }
};

TEST_F(TenantStoreTest, NewProjectHasDefaultQuotas) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    TenantData tenants = data();
    ASSERT_EQ(tenants.projects.size(), 1u);
    EXPECT_EQ(tenants.projects[0].name, "acme");
    EXPECT_EQ(tenants.projects[0].resources_max, 1u);
    EXPECT_EQ(tenants.projects[0].domains_max, 3u);
}

TEST_F(TenantStoreTest, SecondResourceIsRefusedWithTheCommandThatRaisesTheQuota) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    add_resource("acme/web");
    EXPECT_EQ(error_of(store_->add_resource("acme/api", "h")),
              "project acme already has 1 of 1 resources; raise the quota with relayctl "
              "project set-quota acme --max-resources N");
    ASSERT_TRUE(store_->set_quota("acme", {2, std::nullopt}));
    add_resource("acme/api");
    EXPECT_EQ(data().resources.size(), 2u);
}

TEST_F(TenantStoreTest, FourthDomainIsRefused) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    add_resource("acme/web");
    add_domain("acme/web", "a.example");
    add_domain("acme/web", "b.example");
    add_domain("acme/web", "c.example");
    EXPECT_EQ(error_of(store_->add_domain("acme/web", "d.example")),
              "resource acme/web already has 3 of 3 domains; raise the quota with relayctl "
              "project set-quota acme --max-domains N");
    EXPECT_EQ(data().resources[0].domains.size(), 3u);
}

TEST_F(TenantStoreTest, DomainBelongsToOneResource) {
    ASSERT_TRUE(store_->add_project("acme", {2, std::nullopt}));
    add_resource("acme/web");
    add_resource("acme/api");
    add_domain("acme/web", "Example.COM");
    EXPECT_EQ(error_of(store_->add_domain("acme/api", "example.com")),
              "domain example.com already belongs to resource acme/web");
    EXPECT_EQ(error_of(store_->add_domain("acme/web", "example.com.")),
              "domain example.com is already a domain of acme/web");
    ASSERT_TRUE(store_->remove_domain("acme/web", "EXAMPLE.com"));
    add_domain("acme/api", "example.com");  // free again once removed
}

TEST_F(TenantStoreTest, ConflictsAndUnknownNames) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    EXPECT_EQ(error_of(store_->add_project("acme", {})), "project acme already exists");
    EXPECT_EQ(error_of(store_->add_resource("nope/web", "h")),
              "no project nope (add it with relayctl project add nope)");
    add_resource("acme/web");
    ASSERT_TRUE(store_->set_quota("acme", {5, std::nullopt}));
    EXPECT_EQ(error_of(store_->add_resource("acme/web", "h")), "resource acme/web already exists");
    EXPECT_EQ(error_of(store_->remove_resource("acme/nope")), "no resource acme/nope");
    EXPECT_EQ(error_of(store_->remove_domain("acme/web", "x.example")),
              "domain x.example is not a domain of acme/web");
    EXPECT_EQ(error_of(store_->remove_project("nope")), "no project nope");
    EXPECT_FALSE(store_->add_project("Bad Name", {}));
    EXPECT_FALSE(store_->add_resource("acme", "h"));
    EXPECT_FALSE(store_->add_domain("acme/web", "localhost"));
    EXPECT_FALSE(store_->add_domain("acme/web", "-bad.example"));
}

TEST_F(TenantStoreTest, QuotaCannotDropBelowUse) {
    ASSERT_TRUE(store_->add_project("acme", {2, std::nullopt}));
    add_resource("acme/web");
    add_resource("acme/api");
    add_domain("acme/web", "a.example");
    add_domain("acme/web", "b.example");
    EXPECT_EQ(error_of(store_->set_quota("acme", {1, std::nullopt})),
              "project acme has 2 resources; remove some before lowering --max-resources to 1");
    EXPECT_EQ(error_of(store_->set_quota("acme", {std::nullopt, 1})),
              "resource acme/web has 2 domains; remove some before lowering --max-domains to 1");
    ASSERT_TRUE(store_->set_quota("acme", {std::nullopt, 2}));
    EXPECT_EQ(data().projects[0].domains_max, 2u);
}

TEST_F(TenantStoreTest, RemovingAProjectRemovesItsResourcesAndFreesItsDomains) {
    ASSERT_TRUE(store_->add_project("acme", {2, std::nullopt}));
    ASSERT_TRUE(store_->add_project("acme2", {}));  // a name that shares acme's prefix
    add_resource("acme/web");
    add_resource("acme/api");
    add_resource("acme2/web");
    add_domain("acme/web", "a.example");
    add_domain("acme/api", "b.example");
    add_domain("acme2/web", "c.example");
    ASSERT_TRUE(store_->remove_project("acme"));
    TenantData tenants = data();
    ASSERT_EQ(tenants.projects.size(), 1u);
    ASSERT_EQ(tenants.resources.size(), 1u);
    EXPECT_EQ(tenants.resources[0].username(), "acme2/web");
    ASSERT_TRUE(store_->add_project("other", {}));
    add_resource("other/x");
    add_domain("other/x", "a.example");
    add_domain("other/x", "b.example");
}

TEST_F(TenantStoreTest, RemovingAResourceFreesItsDomains) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    add_resource("acme/web");
    add_domain("acme/web", "a.example");
    ASSERT_TRUE(store_->remove_resource("acme/web"));
    add_resource("acme/api");
    add_domain("acme/api", "a.example");
}

TEST_F(TenantStoreTest, GenerationGrowsWithEveryChangeAndNotWithAFailedOne) {
    auto start = store_->generation();
    ASSERT_TRUE(start);
    ASSERT_TRUE(store_->add_project("acme", {}));
    auto after_add = store_->generation();
    EXPECT_EQ(*after_add, *start + 1);
    EXPECT_FALSE(store_->add_project("acme", {}));
    EXPECT_EQ(*store_->generation(), *after_add);
    EXPECT_EQ(data().generation, *after_add);
}

TEST_F(TenantStoreTest, NewPasswordChangesThePasswordGeneration) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    add_resource("acme/web", "first");
    std::uint64_t first = data().resources[0].password_generation;
    ASSERT_TRUE(store_->set_password("acme/web", "second"));
    ResourceRecord resource = data().resources[0];
    EXPECT_EQ(resource.password_hash, "second");
    EXPECT_GT(resource.password_generation, first);
    EXPECT_FALSE(store_->set_password("acme/nope", "x"));
}

TEST_F(TenantStoreTest, ChangesSurviveReopening) {
    ASSERT_TRUE(store_->add_project("acme", {}));
    add_resource("acme/web", "hash");
    add_domain("acme/web", "a.example");
    std::uint64_t generation = *store_->generation();
    reopen();
    TenantData tenants = data();
    EXPECT_EQ(tenants.generation, generation);
    ASSERT_EQ(tenants.resources.size(), 1u);
    EXPECT_EQ(tenants.resources[0].password_hash, "hash");
    EXPECT_EQ(tenants.resources[0].domains, std::vector<std::string>{"a.example"});
}

TEST_F(TenantStoreTest, TwoHandlesOnOneFolderSeeEachOthersWrites) {
    auto second = open_lmdb_tenant_store({(root_ / "store").string(), 64ull << 20});
    ASSERT_TRUE(second) << second.error().message;
    ASSERT_TRUE(store_->add_project("acme", {}));
    auto seen = second.value()->load();
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->projects.size(), 1u);
    EXPECT_EQ(*second.value()->generation(), *store_->generation());
}

TEST(TenantNames, Usernames) {
    auto parsed = parse_username("acme/web-1");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->project, "acme");
    EXPECT_EQ(parsed->name, "web-1");
    EXPECT_FALSE(parse_username("acme"));
    EXPECT_FALSE(parse_username("acme/"));
    EXPECT_FALSE(parse_username("/web"));
    EXPECT_FALSE(parse_username("acme/web/x"));
    EXPECT_FALSE(parse_username("Acme/web"));
    EXPECT_FALSE(parse_username(std::string("acme/w\0b", 8)));
    EXPECT_FALSE(check_name("project", std::string(64, 'a')));
    EXPECT_TRUE(check_name("project", std::string(63, 'a')));
}

TEST(TenantNames, Domains) {
    EXPECT_EQ(check_domain("Mail.Example.COM.").value(), "mail.example.com");
    EXPECT_EQ(check_domain("xn--bcher-kva.example").value(), "xn--bcher-kva.example");
    EXPECT_FALSE(check_domain("example"));
    EXPECT_FALSE(check_domain("exa_mple.com"));
    EXPECT_FALSE(check_domain("a..example"));
    EXPECT_FALSE(check_domain("bücher.example"));
    EXPECT_FALSE(check_domain(std::string(64, 'a') + ".example"));
    EXPECT_FALSE(check_domain(""));
}

}  // namespace
}  // namespace relay::store
