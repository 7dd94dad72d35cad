// signature_test.cc -- RFC 8463 Appendix A reproduced bit for bit (both algorithms), and the
// DKIM-Signature field this part builds: tags, folding, over-signing, refusals.
#include "relay/dkim/signature.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay/dkim/headers.h"
#include "rfc8463.h"
#include "support.h"

namespace relay::dkim {
namespace {

using test_support::base64;
using test_support::unbase64;

PrivateKey rfc_ed25519_key() {
    const auto seed = unbase64(rfc8463::ed25519_seed_base64);
    std::string der("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16);
    der.append(seed.begin(), seed.end());
    auto key = PrivateKey::load(der);
    RELAY_ASSERT(key.ok());
    return std::move(key).value();
}

PrivateKey rfc_rsa_key() {
    auto key = PrivateKey::load(rfc8463::rsa_private_pem);
    RELAY_ASSERT(key.ok());
    return std::move(key).value();
}

std::vector<std::string> rfc_names() {
    return {std::begin(rfc8463::signed_names), std::end(rfc8463::signed_names)};
}

std::string rfc_signature(PrivateKey& key, std::string_view field_without_b) {
    const auto fields = split_header_fields(rfc8463::header_block);
    const auto names = rfc_names();
    const Sha256Digest hash =
        signed_headers_hash(fields, names, field_without_b, Canonicalization::relaxed);
    auto signature = key.sign(hash);
    RELAY_ASSERT(signature.ok());
    return base64(signature->data(), signature->size());
}

TEST(Signature, Rfc8463Ed25519Example) {
    PrivateKey key = rfc_ed25519_key();
    EXPECT_EQ(rfc_signature(key, rfc8463::ed25519_field_without_b), rfc8463::ed25519_b);
}

TEST(Signature, Rfc8463RsaExample) {
    // RSASSA-PKCS1-v1_5 is deterministic, so the published value comes out again.
    PrivateKey key = rfc_rsa_key();
    EXPECT_EQ(rfc_signature(key, rfc8463::rsa_field_without_b), rfc8463::rsa_b);
}

SignatureSpec football_spec(Algorithm algorithm, std::span<const std::string_view> fields) {
    SignatureSpec spec;
    spec.algorithm = algorithm;
    spec.domain = "football.example.com";
    spec.selector = algorithm == Algorithm::ed25519_sha256 ? "brisbane" : "test";
    spec.timestamp_s = 1528637909;
    spec.signed_field_names = choose_signed_fields(fields, default_signed_field_names(),
                                                   default_oversigned_field_names());
    return spec;
}

std::vector<std::string_view> lines_of(std::string_view field) {
    std::vector<std::string_view> lines;
    std::size_t position = 0;
    while (position < field.size()) {
        const std::size_t end = field.find("\r\n", position);
        lines.push_back(field.substr(position, end - position));
        position = end + 2;
    }
    return lines;
}

TEST(Signature, BuildsTheFieldWithAllTagsFolded) {
    const auto fields = split_header_fields(rfc8463::header_block);
    BodyHasher hasher(Canonicalization::relaxed);
    hasher.body(rfc8463::body);
    const Sha256Digest body_hash = hasher.finish();
    PrivateKey key = rfc_ed25519_key();
    SignatureSpec spec = football_spec(Algorithm::ed25519_sha256, fields);
    spec.expiration_s = 1528637909 + 86400;
    auto field = sign_message(key, spec, fields, body_hash);
    ASSERT_TRUE(field.ok()) << field.error().message;
    EXPECT_EQ(field->rfind("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;", 0), 0u);
    std::string unfolded;
    for (const std::string_view line : lines_of(*field)) {
        EXPECT_LE(line.size(), 78u) << line;
        unfolded += line;
    }
    // Folding may put FWS between tags and after the colons of h=.
    std::string compact = unfolded;
    std::erase(compact, ' ');
    EXPECT_NE(compact.find(";d=football.example.com;s=brisbane;t=1528637909;x=1528724309;"),
              std::string::npos)
        << unfolded;
    EXPECT_NE(compact.find(";h=from:from:to:subject:date:message-id;"), std::string::npos)
        << unfolded;
    EXPECT_NE(unfolded.find(" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"),
              std::string::npos);
    EXPECT_EQ(unfolded.find("l="), std::string::npos);
    EXPECT_EQ(field->substr(field->size() - 2), "\r\n");
    // The b= value is the signature over the field as built, without it.
    const std::size_t b = unfolded.rfind(" b=");
    ASSERT_NE(b, std::string::npos);
    std::string b_value = unfolded.substr(b + 3);
    std::erase(b_value, ' ');
    const std::string without_b = signature_field_without_b(spec, body_hash);
    const Sha256Digest hash =
        signed_headers_hash(fields, spec.signed_field_names, without_b, Canonicalization::relaxed);
    auto expected = key.sign(hash);
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(b_value, base64(expected->data(), expected->size()));
}

TEST(Signature, LongFieldListsFoldWithinTheLineLimit) {
    std::string block = "From: a@example.com\r\n";
    for (int index = 0; index < 40; ++index) {
        block += "References: <" + std::to_string(index) + "@example.com>\r\n";
    }
    const auto fields = split_header_fields(block);
    auto key = PrivateKey::generate(Algorithm::rsa_sha256);
    ASSERT_TRUE(key.ok());
    SignatureSpec spec = football_spec(Algorithm::rsa_sha256, fields);
    EXPECT_EQ(spec.signed_field_names.size(), 42u);
    auto field = sign_message(*key, spec, fields, Sha256Digest{});
    ASSERT_TRUE(field.ok());
    for (const std::string_view line : lines_of(*field)) {
        EXPECT_LE(line.size(), 78u) << line;
    }
}

TEST(Signature, RefusesBadSpecs) {
    const auto fields = split_header_fields(rfc8463::header_block);
    PrivateKey key = rfc_ed25519_key();
    auto refused = [&](const SignatureSpec& spec) {
        auto field = sign_message(key, spec, fields, Sha256Digest{});
        return !field.ok() && field.error().code == ErrorCode::invalid_argument;
    };
    const SignatureSpec good = football_spec(Algorithm::ed25519_sha256, fields);
    ASSERT_TRUE(sign_message(key, good, fields, Sha256Digest{}).ok());
    SignatureSpec spec = good;
    spec.algorithm = Algorithm::rsa_sha256;  // not the key's
    EXPECT_TRUE(refused(spec));
    spec = good;
    spec.domain = "example.com; l=1";
    EXPECT_TRUE(refused(spec));
    spec = good;
    spec.selector = "";
    EXPECT_TRUE(refused(spec));
    spec = good;
    spec.expiration_s = spec.timestamp_s;
    EXPECT_TRUE(refused(spec));
    spec = good;
    spec.signed_field_names = {"to", "subject"};  // From must be signed
    EXPECT_TRUE(refused(spec));
    spec = good;
    spec.signed_field_names = {"from", "to:cc"};
    EXPECT_TRUE(refused(spec));
}

}  // namespace
}  // namespace relay::dkim
