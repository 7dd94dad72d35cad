// verp_test.cc -- VERP tokens: round trip, what they look like, tampering, truncation, keys.
#include "relay/bounce/verp.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace relay::bounce {
namespace {

constexpr std::string_view key = "0123456789abcdef-verp-key";
constexpr std::string_view old_key = "an older key, still accepted";

VerpMessage sample() {
    VerpMessage message;
    message.queue_id = 0x0191D2C3B4A50042ULL;
    message.resource = "acme/newsletters";
    message.recipient_index = 3;
    message.recipient = "Some.One@Example.NET";
    return message;
}

TEST(Verp, RoundTrip) {
    auto address = verp_address(key, sample(), "bounces.relay.example");
    ASSERT_TRUE(address.ok());
    const std::string_view keys[] = {key};
    auto token = decode_verp(keys, *address);
    ASSERT_TRUE(token.ok()) << token.error().message;
    EXPECT_EQ(token->queue_id, sample().queue_id);
    EXPECT_EQ(token->recipient_index, 3);
    EXPECT_EQ(token->resource_fingerprint, verp_resource_fingerprint("acme/newsletters"));
    EXPECT_NE(token->resource_fingerprint, verp_resource_fingerprint("acme/other"));
    // The recipient's fingerprint ignores case: a DSN may spell the address differently.
    EXPECT_EQ(token->recipient_fingerprint, verp_recipient_fingerprint("some.one@example.net"));
    EXPECT_NE(token->recipient_fingerprint, verp_recipient_fingerprint("someone@example.net"));
    EXPECT_EQ(token->key_index, 0u);
}

TEST(Verp, MatchesTheDocumentedLayout) {
    // Computed from verp.h's layout with Python's hashlib, hmac and base64 (not this code):
    // version 1, queue id, sha256(resource)[:6], index, sha256(lower(recipient))[:5],
    // hmac_sha256(key, "relay-verp-1" + those 22 octets)[:8], base32 in lower case.
    auto local_part = verp_local_part(key, sample());
    ASSERT_TRUE(local_part.ok());
    EXPECT_EQ(*local_part, "bounces+aeazduwdwssqaqsk4i655whgaab3gnc46s2qmyroouhwxtkn");
}

TEST(Verp, LocalPartIsShortLowerCaseAndSafe) {
    auto local_part = verp_local_part(key, sample());
    ASSERT_TRUE(local_part.ok());
    EXPECT_EQ(local_part->size(), verp_prefix.size() + verp_token_chars);
    EXPECT_LE(local_part->size(), 64u);  // RFC 5321 §4.5.3.1.1
    EXPECT_EQ(local_part->rfind("bounces+", 0), 0u);
    for (const char c : local_part->substr(verp_prefix.size())) {
        EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << *local_part;
    }
    // The same inputs give the same token; another recipient another token.
    EXPECT_EQ(*verp_local_part(key, sample()), *local_part);
    VerpMessage other = sample();
    other.recipient_index = 4;
    EXPECT_NE(*verp_local_part(key, other), *local_part);
}

TEST(Verp, UpperCasedByAnMtaStillDecodes) {
    auto address = verp_address(key, sample(), "bounces.relay.example");
    ASSERT_TRUE(address.ok());
    std::string upper = *address;
    for (char& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    const std::string_view keys[] = {key};
    auto token = decode_verp(keys, upper);
    ASSERT_TRUE(token.ok()) << token.error().message;
    EXPECT_EQ(token->queue_id, sample().queue_id);
}

TEST(Verp, EveryAlteredCharacterIsRejected) {
    auto local_part = verp_local_part(key, sample());
    ASSERT_TRUE(local_part.ok());
    const std::string_view keys[] = {key};
    constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    for (std::size_t index = verp_prefix.size(); index < local_part->size(); ++index) {
        for (const char replacement : alphabet) {
            if (replacement == (*local_part)[index]) {
                continue;
            }
            std::string tampered = *local_part;
            tampered[index] = replacement;
            ASSERT_FALSE(decode_verp(keys, tampered).ok()) << tampered;
        }
    }
}

TEST(Verp, TruncatedOrExtendedTokensAreRejected) {
    auto local_part = verp_local_part(key, sample());
    ASSERT_TRUE(local_part.ok());
    const std::string_view keys[] = {key};
    for (std::size_t length = 0; length < local_part->size(); ++length) {
        ASSERT_FALSE(decode_verp(keys, local_part->substr(0, length)).ok()) << length;
    }
    EXPECT_FALSE(decode_verp(keys, *local_part + "a").ok());
    EXPECT_FALSE(decode_verp(keys, "bounce+" + local_part->substr(8)).ok());
    EXPECT_FALSE(decode_verp(keys, "postmaster@example.com").ok());
    EXPECT_FALSE(decode_verp(keys, "").ok());
}

TEST(Verp, KeysRotate) {
    auto address = verp_address(old_key, sample(), "b.example");
    ASSERT_TRUE(address.ok());
    const std::string_view only_new[] = {key};
    EXPECT_FALSE(decode_verp(only_new, *address).ok());
    const std::string_view both[] = {key, old_key};
    auto token = decode_verp(both, *address);
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(token->key_index, 1u);
    EXPECT_FALSE(decode_verp({}, *address).ok());
}

TEST(Verp, RefusesShortKeysAndHugeIndexes) {
    EXPECT_FALSE(verp_local_part("short", sample()).ok());
    VerpMessage message = sample();
    message.recipient_index = verp_recipient_index_max + 1;
    EXPECT_FALSE(verp_local_part(key, message).ok());
    message.recipient_index = verp_recipient_index_max;
    auto local_part = verp_local_part(key, message);
    ASSERT_TRUE(local_part.ok());
    const std::string_view keys[] = {key};
    EXPECT_EQ(decode_verp(keys, *local_part)->recipient_index, verp_recipient_index_max);
}

TEST(Verp, RandomFieldsRoundTrip) {
    std::mt19937_64 random(10);
    const std::string_view keys[] = {key};
    for (int round = 0; round < 2000; ++round) {
        VerpMessage message;
        message.queue_id = random();
        const std::string resource = "p" + std::to_string(random() % 1000) + "/r";
        const std::string recipient = "u" + std::to_string(random()) + "@example.org";
        message.resource = resource;
        message.recipient = recipient;
        message.recipient_index = static_cast<std::uint32_t>(random() % 65536);
        auto local_part = verp_local_part(key, message);
        ASSERT_TRUE(local_part.ok());
        auto token = decode_verp(keys, *local_part + "@x.example");
        ASSERT_TRUE(token.ok());
        ASSERT_EQ(token->queue_id, message.queue_id);
        ASSERT_EQ(token->recipient_index, message.recipient_index);
        ASSERT_EQ(token->resource_fingerprint, verp_resource_fingerprint(resource));
        ASSERT_EQ(token->recipient_fingerprint, verp_recipient_fingerprint(recipient));
    }
}

}  // namespace
}  // namespace relay::bounce
