// key_test.cc -- loading keys (RFC 8463's, PKCS#1, PKCS#8, PEM, DER), generating them, the DNS
// record, and the refusals.
#include "relay/dkim/key.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rfc8463.h"
#include "support.h"

namespace relay::dkim {
namespace {

using test_support::unbase64;

std::string as_text(const std::vector<std::uint8_t>& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

std::string der_length(std::size_t length) {
    if (length < 128) {
        return std::string(1, static_cast<char>(length));
    }
    if (length < 256) {
        return std::string("\x81") + static_cast<char>(length);
    }
    return std::string("\x82") + static_cast<char>(length >> 8) + static_cast<char>(length & 255);
}

std::string der(char tag, const std::string& content) {
    return std::string(1, tag) + der_length(content.size()) + content;
}

// RFC 8410 §7: PKCS#8 around an Ed25519 seed.
std::string ed25519_pkcs8(const std::vector<std::uint8_t>& seed) {
    const std::string algorithm = der(0x30, std::string("\x06\x03\x2b\x65\x70", 5));
    return der(0x30,
               std::string("\x02\x01\x00", 3) + algorithm + der(0x04, der(0x04, as_text(seed))));
}

// RFC 5208 §5: PKCS#8 around a PKCS#1 RSA key.
std::string rsa_pkcs8(const std::string& pkcs1) {
    const std::string algorithm =
        der(0x30, std::string("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00", 13));
    return der(0x30, std::string("\x02\x01\x00", 3) + algorithm + der(0x04, pkcs1));
}

std::string pem_body_der(std::string_view pem) {
    const std::size_t begin = pem.find('\n') + 1;
    const std::size_t end = pem.find("-----END");
    return as_text(unbase64(std::string(pem.substr(begin, end - begin))));
}

TEST(Key, LoadsRfc8463RsaKeyFromPkcs1Pem) {
    auto key = PrivateKey::load(rfc8463::rsa_private_pem);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->algorithm(), Algorithm::rsa_sha256);
    EXPECT_EQ(key->bits(), 1024);
    EXPECT_EQ(key->public_key_base64(), rfc8463::rsa_public_base64);
}

TEST(Key, LoadsRsaKeyFromPkcs8AndDer) {
    const std::string pkcs1 = pem_body_der(rfc8463::rsa_private_pem);
    auto from_der = PrivateKey::load(pkcs1);
    ASSERT_TRUE(from_der.ok()) << from_der.error().message;
    EXPECT_EQ(from_der->public_key_base64(), rfc8463::rsa_public_base64);
    auto from_pkcs8 = PrivateKey::load(rsa_pkcs8(pkcs1));
    ASSERT_TRUE(from_pkcs8.ok()) << from_pkcs8.error().message;
    EXPECT_EQ(from_pkcs8->public_key_base64(), rfc8463::rsa_public_base64);
}

TEST(Key, LoadsRfc8463Ed25519KeyFromPkcs8DerAndPem) {
    const std::string pkcs8 = ed25519_pkcs8(unbase64(rfc8463::ed25519_seed_base64));
    auto key = PrivateKey::load(pkcs8);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->algorithm(), Algorithm::ed25519_sha256);
    // The public half is derived from the seed: RFC 8463 A.2's record.
    EXPECT_EQ(key->public_key_base64(), rfc8463::ed25519_public_base64);
    auto pem = key->to_pem();
    ASSERT_TRUE(pem.ok());
    EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
    auto again = PrivateKey::load(*pem);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->public_key_base64(), rfc8463::ed25519_public_base64);
}

TEST(Key, GeneratedKeysRoundTripThroughPem) {
    for (const Algorithm algorithm : {Algorithm::rsa_sha256, Algorithm::ed25519_sha256}) {
        auto key = PrivateKey::generate(algorithm);
        ASSERT_TRUE(key.ok()) << key.error().message;
        EXPECT_EQ(key->bits(), algorithm == Algorithm::rsa_sha256 ? 2048 : 256);
        auto pem = key->to_pem();
        ASSERT_TRUE(pem.ok());
        EXPECT_EQ(
            pem->rfind(algorithm == Algorithm::rsa_sha256 ? "-----BEGIN RSA PRIVATE KEY-----\n"
                                                          : "-----BEGIN PRIVATE KEY-----\n",
                       0),
            0u);
        auto loaded = PrivateKey::load(*pem);
        ASSERT_TRUE(loaded.ok()) << loaded.error().message;
        EXPECT_EQ(loaded->algorithm(), algorithm);
        EXPECT_EQ(loaded->public_key_base64(), key->public_key_base64());
    }
    // Two generated keys differ.
    auto first = PrivateKey::generate(Algorithm::ed25519_sha256);
    auto second = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_NE(first->public_key_base64(), second->public_key_base64());
}

TEST(Key, DnsRecordIsSplitIntoStringsOf255) {
    auto key = PrivateKey::generate(Algorithm::rsa_sha256);
    ASSERT_TRUE(key.ok());
    const std::string record = dns_txt_record("s2026", "example.com", *key);
    const std::string prefix = "s2026._domainkey.example.com. IN TXT ";
    ASSERT_EQ(record.rfind(prefix, 0), 0u) << record;
    // Take the quoted strings apart again: each at most 255 octets, together the record text.
    std::string joined;
    std::size_t strings = 0;
    std::size_t position = prefix.size();
    while (position < record.size()) {
        ASSERT_EQ(record[position], '"') << record;
        const std::size_t close = record.find('"', position + 1);
        ASSERT_NE(close, std::string::npos);
        const std::size_t length = close - position - 1;
        EXPECT_LE(length, 255u);
        joined += record.substr(position + 1, length);
        ++strings;
        position = close + 1;
        if (position < record.size()) {
            ASSERT_EQ(record[position], ' ');
            ++position;
        }
    }
    EXPECT_EQ(strings, 2u);  // an RSA-2048 record is about 410 octets
    EXPECT_EQ(joined, "v=DKIM1; k=rsa; p=" + key->public_key_base64());

    auto ed25519 = PrivateKey::load(ed25519_pkcs8(unbase64(rfc8463::ed25519_seed_base64)));
    ASSERT_TRUE(ed25519.ok());
    EXPECT_EQ(dns_txt_record("brisbane", "football.example.com.", *ed25519),
              "brisbane._domainkey.football.example.com. IN TXT \"v=DKIM1; k=ed25519; "
              "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"");
}

TEST(Key, GenerateKeyGivesThePemAndTheRecordOfOneKey) {
    auto generated = generate_key(Algorithm::ed25519_sha256, "s2026", "example.com");
    ASSERT_TRUE(generated.ok()) << generated.error().message;
    auto key = PrivateKey::load(generated->private_key_pem);
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(generated->dns_record, dns_txt_record("s2026", "example.com", *key));
    EXPECT_NE(generated->dns_record.find("k=ed25519; p=" + key->public_key_base64()),
              std::string::npos);
    for (const auto& [selector, domain] :
         std::vector<std::pair<std::string, std::string>>{{"s 1", "example.com"},
                                                          {"s1", "example.com; x"},
                                                          {"", "example.com"},
                                                          {"s1",
                                                           "b\xc3\xbc"
                                                           "cher.example"}}) {
        auto refused = generate_key(Algorithm::ed25519_sha256, selector, domain);
        ASSERT_FALSE(refused.ok()) << selector << " " << domain;
        EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument);
    }
}

// Runs a shell command, returns its standard output (empty if it failed).
std::string run(const std::string& command) {
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return {};
    }
    std::string output;
    char buffer[4096];
    std::size_t length = 0;
    while ((length = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
        output.append(buffer, length);
    }
    return pclose(pipe) == 0 ? output : std::string();
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(Key, InteroperatesWithOpenSsl) {
    // Keys as OpenSSL writes them load here with the public key OpenSSL derives, and the PEM
    // written here reads in OpenSSL (the p= value is the SubjectPublicKeyInfo for RSA and its
    // last 32 octets for Ed25519).
    std::string pattern = (std::filesystem::temp_directory_path() / "dkim-key-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    const std::filesystem::path folder = pattern;
    const std::string quiet = " 2>/dev/null";
    auto openssl_public = [&](const std::filesystem::path& file, bool ed25519) {
        return run("openssl pkey -in '" + file.string() + "' -pubout -outform DER" + quiet +
                   (ed25519 ? " | tail -c 32" : "") + " | base64 -w0");
    };
    struct Made {
        std::string command;
        std::string file;
        bool ed25519;
    };
    const std::vector<Made> made = {
        {"openssl genpkey -algorithm ed25519 -out ", "ed25519.pem", true},
        {"openssl genrsa -out ", "rsa-pkcs8.pem", false},  // OpenSSL 3 writes PKCS#8
        {"openssl genrsa -traditional -out ", "rsa-pkcs1.pem", false},
    };
    for (const Made& key_file : made) {
        const std::filesystem::path path = folder / key_file.file;
        ASSERT_EQ(system((key_file.command + "'" + path.string() + "'" + quiet).c_str()), 0);
        auto key = PrivateKey::load(read_file(path));
        ASSERT_TRUE(key.ok()) << key_file.file << ": " << key.error().message;
        EXPECT_EQ(key->public_key_base64(), openssl_public(path, key_file.ed25519))
            << key_file.file;
    }
    for (const Algorithm algorithm : {Algorithm::rsa_sha256, Algorithm::ed25519_sha256}) {
        auto key = PrivateKey::generate(algorithm);
        ASSERT_TRUE(key.ok());
        auto pem = key->to_pem();
        ASSERT_TRUE(pem.ok());
        const std::filesystem::path path = folder / "ours.pem";
        std::ofstream(path, std::ios::binary) << *pem;
        EXPECT_EQ(key->public_key_base64(),
                  openssl_public(path, algorithm == Algorithm::ed25519_sha256));
    }
    std::filesystem::remove_all(folder);
}

TEST(Key, RefusesWhatIsNotAUsablePrivateKey) {
    const std::string pkcs1 = pem_body_der(rfc8463::rsa_private_pem);
    const std::vector<std::string> refused = {
        "",
        "not a key at all",
        std::string("-----BEGIN PUBLIC KEY-----\n") +
            "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n" +
            "-----END PUBLIC KEY-----\n",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        std::string("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n") +
            "-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nnot base64 !\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIC\n",  // no END line
        pkcs1.substr(0, pkcs1.size() / 2),          // truncated DER
    };
    for (const std::string& text : refused) {
        auto key = PrivateKey::load(text);
        ASSERT_FALSE(key.ok()) << text;
        EXPECT_EQ(key.error().code, ErrorCode::invalid_argument);
        EXPECT_FALSE(key.error().message.empty());
    }
}

}  // namespace
}  // namespace relay::dkim
