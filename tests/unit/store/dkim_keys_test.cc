// dkim_keys_test.cc -- DKIM keys in the store: kept with their domain, one per selector, listed in
// order, kept across reopening, and gone with the domain, the resource or the project; the store
// files are readable by their owner only.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "relay/store/tenant_names.h"
#include "store_test_support.h"

namespace relay::store {
namespace {

class DkimKeysTest : public testing::StoreFixture {
  protected:
    void SetUp() override {
        StoreFixture::SetUp();
        ASSERT_TRUE(store_->add_project("acme", {2, 3}));
        ASSERT_TRUE(store_->add_resource("acme/web", "$argon2id$x"));
        ASSERT_TRUE(store_->add_resource("acme/api", "$argon2id$y"));
        ASSERT_TRUE(store_->add_domain("acme/web", "example.com"));
        ASSERT_TRUE(store_->add_domain("acme/web", "example.org"));
        ASSERT_TRUE(store_->add_domain("acme/api", "sub.example.com"));
    }

    static DkimKeyRecord key(const std::string& domain, const std::string& selector,
                             const std::string& algorithm = "rsa-sha256") {
        return {domain, selector, algorithm, "relaxed", 1764608400, "PEM " + selector};
    }

    std::vector<std::string> names() {
        std::vector<std::string> found;
        for (const DkimKeyRecord& record : data().dkim_keys) {
            found.push_back(record.domain + "/" + record.selector);
        }
        return found;
    }
};

TEST_F(DkimKeysTest, AddedKeysAreListedInOrderWithEveryFieldAndSurviveReopening) {
    std::uint64_t before = data().generation;
    ASSERT_TRUE(store_->add_dkim_key(key("example.org", "s1")));
    ASSERT_TRUE(store_->add_dkim_key(key("Example.COM", "S2", "ed25519-sha256")));
    DkimKeyRecord simple = key("example.com", "s1");
    simple.canonicalization = "simple";
    ASSERT_TRUE(store_->add_dkim_key(simple));
    EXPECT_EQ(data().generation, before + 3);
    reopen();
    std::vector<DkimKeyRecord> keys = data().dkim_keys;
    ASSERT_EQ(keys.size(), 3u);
    EXPECT_EQ(keys[0].domain, "example.com");
    EXPECT_EQ(keys[0].selector, "s1");
    EXPECT_EQ(keys[0].canonicalization, "simple");
    EXPECT_EQ(keys[1].domain, "example.com");
    EXPECT_EQ(keys[1].selector, "s2");  // selectors compare without case, as DNS names do
    EXPECT_EQ(keys[1].algorithm, "ed25519-sha256");
    EXPECT_EQ(keys[1].created_unix_s, 1764608400u);
    EXPECT_EQ(keys[1].private_key_pem, "PEM S2");
    EXPECT_EQ(keys[2].domain, "example.org");
}

TEST_F(DkimKeysTest, DomainOfNoResourceIsRefused) {
    Status added = store_->add_dkim_key(key("example.net", "s1"));
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().message,
              "domain example.net is not a domain of any resource (add it first with relayctl "
              "domain add PROJECT/NAME example.net)");
    EXPECT_TRUE(data().dkim_keys.empty());
}

TEST_F(DkimKeysTest, SecondKeyWithTheSameSelectorIsRefusedAndTheFirstKept) {
    ASSERT_TRUE(store_->add_dkim_key(key("example.com", "s1")));
    DkimKeyRecord other = key("example.com", "S1", "ed25519-sha256");
    Status added = store_->add_dkim_key(other);
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().message,
              "domain example.com already has a DKIM key with selector s1 (remove it first with "
              "relayctl dkim remove example.com s1)");
    ASSERT_EQ(data().dkim_keys.size(), 1u);
    EXPECT_EQ(data().dkim_keys[0].algorithm, "rsa-sha256");
}

TEST_F(DkimKeysTest, BadSelectorAlgorithmOrCanonicalizationIsRefused) {
    for (const char* selector : {"", "a b", "s1;x", "s..1", ".s1", "s/1", "s1\r\n"}) {
        EXPECT_FALSE(store_->add_dkim_key(key("example.com", selector))) << selector;
    }
    EXPECT_FALSE(store_->add_dkim_key(key("example.com", std::string(64, 'a'))));
    EXPECT_TRUE(store_->add_dkim_key(key("example.com", std::string(63, 'a') + ".x_y-2")));
    EXPECT_FALSE(store_->add_dkim_key(key("example.com", "s1", "rsa-sha1")));
    DkimKeyRecord odd = key("example.com", "s1");
    odd.canonicalization = "nowsp";
    EXPECT_FALSE(store_->add_dkim_key(odd));
    EXPECT_EQ(data().dkim_keys.size(), 1u);
}

TEST_F(DkimKeysTest, RemoveTakesOnlyThatSelector) {
    ASSERT_TRUE(store_->add_dkim_key(key("example.com", "s1")));
    ASSERT_TRUE(store_->add_dkim_key(key("example.com", "s2")));
    ASSERT_TRUE(store_->remove_dkim_key("EXAMPLE.com", "S1"));
    EXPECT_EQ(names(), std::vector<std::string>{"example.com/s2"});
    Status again = store_->remove_dkim_key("example.com", "s1");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message, "domain example.com has no DKIM key with selector s1");
}

TEST_F(DkimKeysTest, RemovingTheDomainRemovesItsKeysOnlyAndANewOwnerStartsWithNone) {
    ASSERT_TRUE(store_->add_dkim_key(key("example.com", "s1")));
    ASSERT_TRUE(store_->add_dkim_key(key("sub.example.com", "s1")));
    ASSERT_TRUE(store_->add_dkim_key(key("example.org", "s1")));
    ASSERT_TRUE(store_->remove_domain("acme/web", "example.com"));
    EXPECT_EQ(names(), (std::vector<std::string>{"example.org/s1", "sub.example.com/s1"}));
    ASSERT_TRUE(store_->add_domain("acme/api", "example.com"));
    EXPECT_EQ(names(), (std::vector<std::string>{"example.org/s1", "sub.example.com/s1"}));
}

TEST_F(DkimKeysTest, RemovingTheResourceOrTheProjectRemovesTheKeysOfItsDomains) {
    ASSERT_TRUE(store_->add_dkim_key(key("example.com", "s1")));
    ASSERT_TRUE(store_->add_dkim_key(key("example.org", "s1")));
    ASSERT_TRUE(store_->add_dkim_key(key("sub.example.com", "s1")));
    ASSERT_TRUE(store_->remove_resource("acme/web"));
    EXPECT_EQ(names(), std::vector<std::string>{"sub.example.com/s1"});
    ASSERT_TRUE(store_->remove_project("acme"));
    EXPECT_TRUE(names().empty());
}

TEST_F(DkimKeysTest, StoreFolderAndFilesAreTheOwnersOnly) {
    ASSERT_TRUE(store_->add_dkim_key(key("example.com", "s1")));
    struct stat status {};
    ASSERT_EQ(::stat((root_ / "store").c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0700u);
    for (const char* file : {"data.mdb", "lock.mdb"}) {
        ASSERT_EQ(::stat((root_ / "store" / file).c_str(), &status), 0) << file;
        EXPECT_EQ(status.st_mode & 07777, 0600u) << file;
    }
}

}  // namespace
}  // namespace relay::store
