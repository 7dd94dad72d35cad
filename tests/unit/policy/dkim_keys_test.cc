// dkim_keys_test.cc -- the snapshot's DKIM keys: parsed per domain in selector order, with the
// algorithm and canonicalization as values; damaged or mismatched records left out and named;
// a key added to the store reaching the published snapshot on refresh, and gone with its domain.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "relay/dkim/key.h"
#include "relay/policy/tenant_snapshot.h"
#include "relay/policy/tenant_snapshots.h"
#include "relay/store/lmdb_tenant_store.h"

namespace relay::policy {
namespace {

std::string pem_of(dkim::Algorithm algorithm) {
    auto key = dkim::PrivateKey::generate(algorithm);
    EXPECT_TRUE(key);
    auto pem = key->to_pem();
    EXPECT_TRUE(pem);
    return pem.value();
}

store::DkimKeyRecord record(const std::string& domain, const std::string& selector,
                            const std::string& algorithm, const std::string& pem,
                            const std::string& canonicalization = "relaxed") {
    return {domain, selector, algorithm, canonicalization, 1764608400, pem};
}

std::vector<std::string> selectors(std::span<const DkimSigningKey> keys) {
    std::vector<std::string> found;
    for (const DkimSigningKey& key : keys) {
        found.push_back(key.selector);
    }
    return found;
}

TEST(DkimKeyIndexTest, KeysAreParsedPerDomainInOrder) {
    std::string ed25519 = pem_of(dkim::Algorithm::ed25519_sha256);
    std::string rsa = pem_of(dkim::Algorithm::rsa_sha256);
    DkimKeyIndex index = DkimKeyIndex::build({
        record("example.com", "a", "ed25519-sha256", ed25519, "simple"),
        record("example.com", "b", "rsa-sha256", rsa),
        record("example.org", "a", "ed25519-sha256", ed25519),
    });
    EXPECT_EQ(index.keys(), 3u);
    EXPECT_EQ(index.domains(), 2u);
    EXPECT_TRUE(index.unusable().empty());
    std::span<const DkimSigningKey> keys = index.keys_of("example.com");
    ASSERT_EQ(selectors(keys), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(keys[0].algorithm, dkim::Algorithm::ed25519_sha256);
    EXPECT_EQ(keys[0].canonicalization, dkim::Canonicalization::simple);
    EXPECT_EQ(keys[0].bits, 256);
    EXPECT_EQ(keys[1].algorithm, dkim::Algorithm::rsa_sha256);
    EXPECT_EQ(keys[1].canonicalization, dkim::Canonicalization::relaxed);
    EXPECT_EQ(keys[1].bits, 2048);
    // the PEM the signer loads is the key of the record
    auto loaded = dkim::PrivateKey::load(keys[1].private_key_pem);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->public_key_base64(), dkim::PrivateKey::load(rsa)->public_key_base64());
    EXPECT_TRUE(index.keys_of("example.net").empty());
    EXPECT_TRUE(index.keys_of("EXAMPLE.COM").empty());  // callers look up lower case
}

TEST(DkimKeyIndexTest, UnusableRecordsAreLeftOutAndNamedWhileTheOthersServe) {
    std::string ed25519 = pem_of(dkim::Algorithm::ed25519_sha256);
    DkimKeyIndex index = DkimKeyIndex::build({
        record("example.com", "damaged", "ed25519-sha256", "-----BEGIN PRIVATE KEY-----\nxx"),
        record("example.com", "good", "ed25519-sha256", ed25519),
        record("example.com", "mismatch", "rsa-sha256", ed25519),
        record("example.com", "odd", "ed25519-sha256", ed25519, "nowsp"),
    });
    EXPECT_EQ(selectors(index.keys_of("example.com")), std::vector<std::string>{"good"});
    ASSERT_EQ(index.unusable().size(), 3u);
    EXPECT_EQ(index.unusable()[0].rfind("example.com/damaged: ", 0), 0u) << index.unusable()[0];
    EXPECT_EQ(index.unusable()[1], "example.com/mismatch: the key is not a rsa-sha256 key");
    EXPECT_EQ(index.unusable()[2].rfind("example.com/odd: ", 0), 0u);
}

class SnapshotDkimTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-snapshot-dkim-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        auto opened = store::open_lmdb_tenant_store({(root_ / "store").string(), 64ull << 20});
        ASSERT_TRUE(opened) << opened.error().message;
        store_ = std::move(opened.value());
        ASSERT_TRUE(store_->add_project("acme", {}));
        ASSERT_TRUE(store_->add_resource("acme/web", "$argon2id$x"));
        ASSERT_TRUE(store_->add_domain("acme/web", "example.com"));
    }
    void TearDown() override {
        store_.reset();
        std::filesystem::remove_all(root_);
    }

    std::filesystem::path root_;
    std::unique_ptr<store::TenantStore> store_;
};

TEST_F(SnapshotDkimTest, AKeyAddedToTheStoreReachesTheSnapshotAndLeavesWithItsDomain) {
    TenantSnapshots snapshots(*store_);
    ASSERT_TRUE(snapshots.refresh());
    EXPECT_TRUE(snapshots.current()->dkim_keys().keys_of("example.com").empty());

    ASSERT_TRUE(store_->add_dkim_key(
        record("example.com", "s1", "ed25519-sha256", pem_of(dkim::Algorithm::ed25519_sha256))));
    auto refreshed = snapshots.refresh();
    ASSERT_TRUE(refreshed && refreshed.value());
    std::shared_ptr<const TenantSnapshot> with_key = snapshots.current();
    EXPECT_EQ(selectors(with_key->dkim_keys().keys_of("example.com")),
              std::vector<std::string>{"s1"});

    ASSERT_TRUE(store_->remove_domain("acme/web", "example.com"));
    ASSERT_TRUE(snapshots.refresh());
    EXPECT_TRUE(snapshots.current()->dkim_keys().keys_of("example.com").empty());
    // a snapshot already handed out keeps its keys: it is immutable
    EXPECT_EQ(with_key->dkim_keys().keys(), 1u);
}

}  // namespace
}  // namespace relay::policy
