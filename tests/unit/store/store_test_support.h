// store_test_support.h -- a fresh tenant store in a temporary folder for each test.
#pragma once

#include <gtest/gtest.h>
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

    TenantData data() {
        auto loaded = store_->load();
        EXPECT_TRUE(loaded) << loaded.error().message;
        return loaded ? loaded.value() : TenantData{};
    }

    std::filesystem::path root_;
    std::unique_ptr<TenantStore> store_;
};

}  // namespace relay::store::testing
