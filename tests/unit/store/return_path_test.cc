// return_path_test.cc -- a resource's own return path in the store: none by default and in
// records written before resources had one, set, kept across reopening and cleared; addresses
// that are not LOCAL@DOMAIN refused with a one-line error; a damaged value refused on reading.
#include <gtest/gtest.h>

#include <string>

#include "relay/store/tenant_names.h"
#include "store_test_support.h"

namespace relay::store {
namespace {

using ReturnPathTest = testing::ResourceFixture;

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
