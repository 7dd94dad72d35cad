// The SASL pieces of AUTH: strict base64 both ways, and the PLAIN message's three fields.
#include "relay/smtp/sasl.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace relay::smtp {
namespace {

TEST(Base64, DecodesTheRfc4648Vectors) {
    EXPECT_EQ(decode_base64(""), "");
    EXPECT_EQ(decode_base64("Zg=="), "f");
    EXPECT_EQ(decode_base64("Zm8="), "fo");
    EXPECT_EQ(decode_base64("Zm9v"), "foo");
    EXPECT_EQ(decode_base64("Zm9vYmFy"), "foobar");
    EXPECT_EQ(decode_base64("AGEAYg=="), std::string("\0a\0b", 4));
}

TEST(Base64, RefusesEverythingButOneCanonicalEncoding) {
    for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "=Zg=", "Zg==Zg==", "Zm9v\r", "Zm 9v",
                            "Zm9v!", "Zh==", "Zm9=", "Zg=a"}) {
        EXPECT_FALSE(decode_base64(bad)) << bad;  // "Zh==" and "Zm9=" leave bits over
    }
}

TEST(Base64, RoundTripsRandomBytes) {
    std::mt19937 random(7);
    for (int round = 0; round < 2000; ++round) {
        std::string bytes(random() % 40, '\0');
        for (char& c : bytes) {
            c = static_cast<char>(random());
        }
        auto decoded = decode_base64(encode_base64(bytes));
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, bytes);
    }
}

TEST(Plain, TakesUsernameAndPasswordWithOrWithoutTheSameAuthorizationIdentity) {
    PlainResult plain = parse_plain(std::string("\0acme/main\0s3cret", 17));
    ASSERT_TRUE(plain.credentials);
    EXPECT_EQ(plain.credentials->username, "acme/main");
    EXPECT_EQ(plain.credentials->password, "s3cret");
    plain = parse_plain(std::string("acme/main\0acme/main\0s3cret", 26));
    ASSERT_TRUE(plain.credentials);
    EXPECT_EQ(plain.credentials->username, "acme/main");
}

TEST(Plain, RefusesActingAsAnotherOrMissingFields) {
    EXPECT_EQ(parse_plain(std::string("other/x\0acme/main\0pw", 20)).error,
              PlainError::authorization_identity);
    EXPECT_EQ(parse_plain(std::string("\0\0pw", 4)).error, PlainError::empty_field);
    EXPECT_EQ(parse_plain(std::string("\0user\0", 6)).error, PlainError::empty_field);
    EXPECT_EQ(parse_plain("no separators").error, PlainError::malformed);
    EXPECT_EQ(parse_plain(std::string("\0a\0b\0c", 6)).error, PlainError::malformed);
}

TEST(Wipe, LeavesNothingBehind) {
    Credentials credentials{"user", "a long password that is not in the small buffer"};
    wipe(credentials);
    EXPECT_TRUE(credentials.username.empty());
    EXPECT_TRUE(credentials.password.empty());
}

}  // namespace
}  // namespace relay::smtp
