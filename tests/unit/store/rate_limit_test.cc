// rate_limit_test.cc -- a resource's message rate limit in the store: the default, set and kept
// across reopening, read from records written before resources had one, and refused out of
// bounds with a one-line error that names the bound.
#include <gtest/gtest.h>

#include <string>

#include "store_test_support.h"

namespace relay::store {
namespace {

using RateLimitTest = testing::ResourceFixture;

TEST_F(RateLimitTest, NewResourceHasTheDefault) {
    EXPECT_EQ(resource().rate_messages, 100U);
    EXPECT_EQ(resource().rate_window_s, 300U);
}

TEST_F(RateLimitTest, SetKeepsTheLimitAcrossReopeningAndAdvancesTheGeneration) {
    std::uint64_t before = store_->generation().value();
    Status set = store_->set_rate_limit("acme/web", 2000, 3600);
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_GT(store_->generation().value(), before);
    reopen();
    EXPECT_EQ(resource().rate_messages, 2000U);
    EXPECT_EQ(resource().rate_window_s, 3600U);
    ASSERT_TRUE(store_->set_rate_limit("acme/web", 100, 300));
    EXPECT_EQ(resource().rate_messages, 100U);
}

TEST_F(RateLimitTest, ARecordWrittenWithoutTheKeysReadsAsTheDefault) {
    put_raw_resource(R"({"password_hash":"h","password_generation":3,"domains":["a.example"]})");
    EXPECT_EQ(resource().rate_messages, 100U);
    EXPECT_EQ(resource().rate_window_s, 300U);
    EXPECT_EQ(resource().domains, std::vector<std::string>{"a.example"});
}

TEST_F(RateLimitTest, ARecordWithAnImpossibleLimitIsDamaged) {
    put_raw_resource(
        R"({"password_hash":"h","password_generation":3,"domains":[],"rate_messages":0,)"
        R"("rate_window_s":300})");
    auto loaded = store_->load();
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().message, "the store holds a damaged resource record \"acme/web\"");
}

TEST_F(RateLimitTest, OutOfBoundsIsRefusedAndChangesNothing) {
    Status zero = store_->set_rate_limit("acme/web", 0, 300);
    ASSERT_FALSE(zero);
    EXPECT_EQ(zero.error().message, "messages must be 1 to 1000000, not 0");
    Status many = store_->set_rate_limit("acme/web", 1'000'001, 300);
    ASSERT_FALSE(many);
    Status day = store_->set_rate_limit("acme/web", 10, 86'401);
    ASSERT_FALSE(day);
    EXPECT_EQ(day.error().message, "window must be 1 to 86400 seconds, not 86401");
    EXPECT_EQ(resource().rate_messages, 100U);
    EXPECT_EQ(resource().rate_window_s, 300U);
}

TEST_F(RateLimitTest, UnknownResource) {
    Status set = store_->set_rate_limit("acme/other", 10, 10);
    ASSERT_FALSE(set);
    EXPECT_NE(set.error().message.find("acme/other"), std::string::npos);
}

}  // namespace
}  // namespace relay::store
