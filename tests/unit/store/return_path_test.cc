// return_path_test.cc -- a resource's own return path in the store: none by default and in
// records written before resources had one, set, kept across reopening and cleared; addresses
// that are not LOCAL@DOMAIN refused with a one-line error; a damaged value refused on reading.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <string>

#include "relay/store/tenant_names.h"
#include "store_test_support.h"

namespace relay::store {
namespace {

class ReturnPathTest : public testing::StoreFixture {
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

    // Replaces the resource's record with `value`, written with LMDB itself as an older relay
    // would have, with the store closed.
    void put_raw_resource(const std::string& value) {
        store_.reset();
        MDB_env* env = nullptr;
        ASSERT_EQ(mdb_env_create(&env), 0);
        ASSERT_EQ(mdb_env_set_maxdbs(env, 8), 0);
        ASSERT_EQ(mdb_env_set_mapsize(env, 64ull << 20), 0);
        ASSERT_EQ(mdb_env_open(env, (root_ / "store").c_str(), MDB_NOTLS, 0600), 0);
        MDB_txn* txn = nullptr;
        ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
        MDB_dbi resources = 0;
        ASSERT_EQ(mdb_dbi_open(txn, "resources", 0, &resources), 0);
        std::string key = "acme/web";
        MDB_val k{key.size(), key.data()};
        MDB_val v{value.size(), const_cast<char*>(value.data())};
        ASSERT_EQ(mdb_put(txn, resources, &k, &v, 0), 0);
        ASSERT_EQ(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        reopen();
    }
};

TEST_F(ReturnPathTest, NoneByDefaultSetKeptAcrossReopeningAndCleared) {
    EXPECT_EQ(resource().return_path, "");
    ASSERT_TRUE(store_->set_return_path("acme/web", "Bounce.Handler@Returns.Example.NET"));
    EXPECT_EQ(resource().return_path, "Bounce.Handler@returns.example.net");  // domain lowered
    reopen();
    EXPECT_EQ(resource().return_path, "Bounce.Handler@returns.example.net");
    EXPECT_EQ(resource().rate_messages, 100U);  // the other settings untouched
    ASSERT_TRUE(store_->set_return_path("acme/web", ""));
    EXPECT_EQ(resource().return_path, "");
}

TEST_F(ReturnPathTest, AnOlderRecordWithoutItReadsAsNone) {
    put_raw_resource(R"({"password_hash":"$argon2id$hash","password_generation":1,)"
                     R"("domains":[],"stop_policy":"exclude"})");
    EXPECT_EQ(resource().return_path, "");
}

TEST_F(ReturnPathTest, ADamagedValueIsRefusedOnReading) {
    put_raw_resource(R"({"password_hash":"$argon2id$hash","password_generation":1,)"
                     R"("domains":[],"return_path":"no at sign"})");
    EXPECT_FALSE(store_->load());
}

TEST_F(ReturnPathTest, AddressesThatAreNotLocalAtDomainAreRefused) {
    for (const char* address :
         {"nobody", "@example.net", "a@b", "a@-x.example", "a b@x.example", "<a@x.example>",
          "a..b@x.example", ".a@x.example", "a\"b@x.example"}) {
        Status changed = store_->set_return_path("acme/web", address);
        ASSERT_FALSE(changed) << address;
        EXPECT_NE(changed.error().message.find("is not a valid return path"), std::string::npos)
            << changed.error().message;
    }
    EXPECT_FALSE(store_->set_return_path("acme/web", std::string(65, 'l') + "@x.example"));
    EXPECT_TRUE(store_->set_return_path("acme/web", std::string(64, 'l') + "@x.example"));
    EXPECT_FALSE(store_->set_return_path("acme/missing", "a@x.example"));
}

}  // namespace
}  // namespace relay::store
