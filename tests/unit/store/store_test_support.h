// store_test_support.h -- a fresh tenant store in a temporary folder for each test, and one
// with a resource whose record a test may replace as an older relay wrote it.
#pragma once

#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "relay/store/lmdb_tenant_store.h"

namespace relay::store::testing {

class StoreFixture : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-store-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        reopen();
    }
    void TearDown() override {
        store_.reset();
        std::filesystem::remove_all(root_);
    }

    // Closes the store and opens it again from its files.
    void reopen() {
        store_.reset();
        auto store = open_lmdb_tenant_store({(root_ / "store").string(), 64ull << 20});
        ASSERT_TRUE(store) << store.error().message;
        store_ = std::move(store.value());
    }

    // Writes `value` under `key` in `database` with LMDB itself, as an older relay would have,
    // with the store closed; then opens the store again.
    void put_raw(const char* database, const std::string& key, const std::string& value) {
        store_.reset();
        MDB_env* env = nullptr;
        ASSERT_EQ(mdb_env_create(&env), 0);
        ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
        ASSERT_EQ(mdb_env_set_mapsize(env, 64ull << 20), 0);
        ASSERT_EQ(mdb_env_open(env, (root_ / "store").c_str(), MDB_NOTLS, 0600), 0);
        MDB_txn* txn = nullptr;
        ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
        MDB_dbi dbi = 0;
        ASSERT_EQ(mdb_dbi_open(txn, database, 0, &dbi), 0);
        MDB_val k{key.size(), const_cast<char*>(key.data())};
        MDB_val v{value.size(), const_cast<char*>(value.data())};
        ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
        ASSERT_EQ(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        reopen();
    }

    TenantData data() {
        auto loaded = store_->load();
        EXPECT_TRUE(loaded) << loaded.error().message;
        return loaded ? loaded.value() : TenantData{};
    }

    std::filesystem::path root_;
    std::unique_ptr<TenantStore> store_;
};

// The store with project acme and its resource acme/web.
class ResourceFixture : public StoreFixture {
  protected:
    void SetUp() override {
        StoreFixture::SetUp();
        ASSERT_TRUE(store_->add_project("acme", {}));
        ASSERT_TRUE(store_->add_resource("acme/web", "$argon2id$hash"));
    }

    ResourceRecord resource() {
        for (const ResourceRecord& record : data().resources) {
            if (record.username() == "acme/web") {
                return record;
            }
        }
        ADD_FAILURE() << "no resource acme/web";
        return {};
    }

    // Replaces the resource's record with `value`, as an older relay wrote it.
    void put_raw_resource(const std::string& value) { put_raw("resources", "acme/web", value); }
};

}  // namespace relay::store::testing
