// The policy cache: expiry, the entry bound, and the saved text form across a restart.
#include "relay/sts/policy_cache.h"

#include <gtest/gtest.h>

namespace relay::sts {
namespace {

CachedPolicy entry(const std::string& domain, std::uint64_t expires, Mode mode = Mode::enforce) {
    CachedPolicy cached;
    cached.domain = domain;
    cached.id = "id1";
    cached.policy = Policy{mode, {"mx." + domain, "*." + domain}, 3600};
    cached.fetched_unix_s = expires - 3600;
    cached.expires_unix_s = expires;
    return cached;
}

TEST(StsCache, APolicyIsServedUntilItExpires) {
    PolicyCache cache(10);
    cache.put(entry("a.example", 5000), 1000);
    ASSERT_TRUE(cache.find("a.example", 4999));
    EXPECT_EQ(cache.find("a.example", 4999)->policy.mx.front(), "mx.a.example");
    EXPECT_FALSE(cache.find("a.example", 5000));
    EXPECT_FALSE(cache.find("b.example", 1000));
}

TEST(StsCache, AFullCacheDropsTheEntryThatExpiresFirst) {
    PolicyCache cache(2);
    cache.put(entry("a.example", 9000), 1000);
    cache.put(entry("b.example", 5000), 1000);
    cache.put(entry("c.example", 7000), 1000);
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_TRUE(cache.find("a.example", 1000));
    EXPECT_FALSE(cache.find("b.example", 1000));
    EXPECT_TRUE(cache.find("c.example", 1000));
    cache.put(entry("a.example", 9500), 1000);  // a replacement takes no room
    EXPECT_EQ(cache.size(), 2u);
}

TEST(StsCache, TheSavedFormRoundTripsAndDropsExpiredAndDamagedLines) {
    PolicyCache cache(10);
    cache.put(entry("a.example", 9000), 1000);
    cache.put(entry("b.example", 3000, Mode::testing), 1000);
    CachedPolicy none = entry("c.example", 9000, Mode::none);
    none.policy.mx.clear();
    cache.put(none, 1000);
    std::string text = cache.encode();
    text += "d.example id 1 99999 enforce 60\n";              // enforce without mx: refused
    text += "e.example id 1 99999 strict 60 mx.e.example\n";  // unknown mode: refused
    text += "garbage\n";
    auto loaded = PolicyCache::decode(text, 10, 2000);
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(loaded->size(), 3u);
    EXPECT_EQ(*loaded->find("a.example", 2000), *cache.find("a.example", 2000));
    EXPECT_EQ(*loaded->find("c.example", 2000), none);
    auto later = PolicyCache::decode(text, 10, 4000);
    ASSERT_TRUE(later);
    EXPECT_FALSE(later->find("b.example", 4000));  // expired while relayd was down
}

TEST(StsCache, AFileWithoutTheHeaderIsRefused) {
    auto loaded = PolicyCache::decode("a.example id 1 99999 enforce 60 mx.a.example\n", 10, 0);
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code, ErrorCode::data_loss);
}

}  // namespace
}  // namespace relay::sts
