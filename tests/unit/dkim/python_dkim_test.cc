// python_dkim_test.cc -- messages signed by this part verify with another implementation:
// Debian's python3-dkim (dkim.verify), the public key handed to it through its dnsfunc
// argument as the record dns_txt_record prints, so no DNS is involved. Both algorithms, the four
// canonicalization pairs, and both on one message (RFC 8463 dual signing); a changed body
// octet and an added From field must then fail. Every signature of a message must verify.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "relay/dkim/headers.h"
#include "relay/dkim/signature.h"

namespace relay::dkim {
namespace {

constexpr std::string_view header_block =
    "From: \"Sender Name\" <sender@example.com>\r\n"
    "To: a@example.net,\r\n\tb@example.net\r\n"
    "Cc: c@example.net\r\n"
    "Subject:  Quarterly   report \t (Q3) caf\xc3\xa9\r\n"
    "Date: Tue, 01 Dec 2026 17:00:00 +0000\r\n"
    "Message-ID: <20261201170000.1@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "X-Not-Signed: anything\r\n";
constexpr std::string_view body =
    "Body line with trailing space   \r\n\tindented\t\ttabs  and  runs\r\n\r\n"
    "UTF-8: \xe2\x82\xac\r\n\r\n\r\n";

constexpr std::string_view verify_script = R"(
import os, sys, dkim
folder = sys.argv[1]
records = {}
with open(os.path.join(folder, 'records'), 'rb') as lines:
    for line in lines:
        name, text = line.rstrip(b'\n').split(b'\t', 1)
        records[name] = text
def dnsfunc(name, timeout=5):
    return records.get(name)
for name in sorted(os.listdir(folder)):
    if name.endswith('.eml'):
        with open(os.path.join(folder, name), 'rb') as message:
            text = message.read()
        count = text.count(b'DKIM-Signature:')
        try:
            signed = dkim.DKIM(text)
            ok = count > 0 and all(signed.verify(idx=i, dnsfunc=dnsfunc) for i in range(count))
        except dkim.DKIMException:
            ok = False
        print(name, 'pass' if ok else 'fail')
)";

// The text of the TXT record, from the zone-file line: the quoted strings joined.
std::string record_text(const std::string& zone_line) {
    std::string text;
    std::size_t position = zone_line.find('"');
    while (position != std::string::npos) {
        const std::size_t close = zone_line.find('"', position + 1);
        text += zone_line.substr(position + 1, close - position - 1);
        position = zone_line.find('"', close + 1);
    }
    return text;
}

Sha256Digest body_hash_in_random_pieces(Canonicalization canonicalization, std::mt19937& random) {
    BodyHasher hasher(canonicalization);
    std::uniform_int_distribution<std::size_t> length(0, 7);
    std::size_t position = 0;
    while (position < body.size()) {
        const std::size_t take = std::min(length(random), body.size() - position);
        hasher.body(body.substr(position, take));
        position += take;
    }
    return hasher.finish();
}

struct Folder {
    std::filesystem::path path;
    Folder() {
        std::string pattern = (std::filesystem::temp_directory_path() / "dkim-XXXXXX").string();
        RELAY_ASSERT(mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~Folder() { std::filesystem::remove_all(path); }
    void write(const std::string& name, std::string_view bytes) const {
        std::ofstream(path / name, std::ios::binary) << bytes;
    }
};

std::map<std::string, std::string> run_python_dkim(const Folder& folder) {
    const std::string command =
        "/usr/bin/python3 -c \"$RELAY_DKIM_SCRIPT\" '" + folder.path.string() + "' 2>&1";
    setenv("RELAY_DKIM_SCRIPT", std::string(verify_script).c_str(), 1);
    FILE* pipe = popen(command.c_str(), "r");
    RELAY_ASSERT(pipe != nullptr);
    std::map<std::string, std::string> results;
    std::string output;
    char line[4096];
    while (fgets(line, sizeof(line), pipe) != nullptr) {
        output += line;
        const std::string text(line);
        const std::size_t space = text.find(' ');
        if (space != std::string::npos) {
            results[text.substr(0, space)] = text.substr(space + 1, text.find('\n') - space - 1);
        }
    }
    const int status = pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
    return results;
}

TEST(PythonDkim, VerifiesBothAlgorithmsAndAllCanonicalizations) {
    Folder folder;
    std::mt19937 random(42);
    std::string records;
    std::map<std::string, std::string> expected;
    std::map<Algorithm, PrivateKey> keys;
    const auto fields = split_header_fields(header_block);
    for (const Algorithm algorithm : {Algorithm::rsa_sha256, Algorithm::ed25519_sha256}) {
        auto generated = PrivateKey::generate(algorithm);
        ASSERT_TRUE(generated.ok()) << generated.error().message;
        PrivateKey* key = &keys.emplace(algorithm, std::move(generated).value()).first->second;
        const std::string selector(key_type_name(algorithm));
        records += selector + "._domainkey.example.com.\t" +
                   record_text(dns_txt_record(selector, "example.com", *key)) + "\n";
        for (const Canonicalization header :
             {Canonicalization::simple, Canonicalization::relaxed}) {
            for (const Canonicalization body_canonicalization :
                 {Canonicalization::simple, Canonicalization::relaxed}) {
                SignatureSpec spec;
                spec.algorithm = algorithm;
                spec.header_canonicalization = header;
                spec.body_canonicalization = body_canonicalization;
                spec.domain = "example.com";
                spec.selector = selector;
                spec.timestamp_s = 1764608400;
                spec.expiration_s = 4102444800;  // 2100: the verifier checks x= against now
                spec.signed_field_names = choose_signed_fields(fields, default_signed_field_names(),
                                                               default_oversigned_field_names());
                auto field = sign_message(
                    *key, spec, fields, body_hash_in_random_pieces(body_canonicalization, random));
                ASSERT_TRUE(field.ok()) << field.error().message;
                const std::string name =
                    selector + "-" + (header == Canonicalization::simple ? "s" : "r") +
                    (body_canonicalization == Canonicalization::simple ? "s" : "r");
                const std::string message =
                    *field + std::string(header_block) + "\r\n" + std::string(body);
                folder.write(name + ".eml", message);
                expected[name + ".eml"] = "pass";
                // One body octet changed.
                std::string changed = message;
                changed[changed.find("Body line")] = 'b';
                folder.write(name + "-body-changed.eml", changed);
                expected[name + "-body-changed.eml"] = "fail";
                // A second From added above the first: the over-signed From catches it.
                std::string added = *field + "From: other@example.org\r\n" +
                                    std::string(header_block) + "\r\n" + std::string(body);
                folder.write(name + "-from-added.eml", added);
                expected[name + "-from-added.eml"] = "fail";
            }
        }
    }
    // Dual signing: an Ed25519 and an RSA signature on one message, both verified.
    std::string dual = std::string(header_block) + "\r\n" + std::string(body);
    for (const Algorithm algorithm : {Algorithm::rsa_sha256, Algorithm::ed25519_sha256}) {
        SignatureSpec spec;
        spec.algorithm = algorithm;
        spec.domain = "example.com";
        spec.selector = std::string(key_type_name(algorithm));
        spec.timestamp_s = 1764608400;
        spec.signed_field_names = choose_signed_fields(fields, default_signed_field_names(),
                                                       default_oversigned_field_names());
        auto field = sign_message(keys.at(algorithm), spec, fields,
                                  body_hash_in_random_pieces(Canonicalization::relaxed, random));
        ASSERT_TRUE(field.ok());
        dual.insert(0, *field);
    }
    folder.write("dual.eml", dual);
    expected["dual.eml"] = "pass";
    folder.write("records", records);
    EXPECT_EQ(run_python_dkim(folder), expected);
}

TEST(PythonDkim, VerifiesAHeaderOfAThousandFields) {
    // 1,000 fields: trace fields that are not signed, and 200 To fields that all are, taken
    // bottom-up by both sides.
    std::string block = "From: sender@example.com\r\nSubject: many fields\r\n";
    for (int index = 0; index < 998; ++index) {
        block += index % 5 == 0 ? "To: r" + std::to_string(index) + "@example.net\r\n"
                                : "X-Trace-" + std::to_string(index) + ": hop\t " +
                                      std::to_string(index) + "\r\n";
    }
    const auto fields = split_header_fields(block);
    ASSERT_EQ(fields.size(), 1000u);
    Folder folder;
    auto key = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(key.ok());
    folder.write("records", "ed._domainkey.example.com.\t" +
                                record_text(dns_txt_record("ed", "example.com", *key)) + "\n");
    std::map<std::string, std::string> expected;
    for (const Canonicalization canonicalization :
         {Canonicalization::simple, Canonicalization::relaxed}) {
        SignatureSpec spec;
        spec.algorithm = Algorithm::ed25519_sha256;
        spec.header_canonicalization = canonicalization;
        spec.body_canonicalization = canonicalization;
        spec.domain = "example.com";
        spec.selector = "ed";
        spec.timestamp_s = 1764608400;
        spec.signed_field_names = choose_signed_fields(fields, default_signed_field_names(),
                                                       default_oversigned_field_names());
        ASSERT_EQ(spec.signed_field_names.size(), 203u);  // 2 From, 200 To, Subject
        BodyHasher hasher(canonicalization);
        hasher.body(body);
        auto field = sign_message(*key, spec, fields, hasher.finish());
        ASSERT_TRUE(field.ok());
        const std::string name =
            canonicalization == Canonicalization::simple ? "simple.eml" : "relaxed.eml";
        folder.write(name, *field + block + "\r\n" + std::string(body));
        expected[name] = "pass";
    }
    EXPECT_EQ(run_python_dkim(folder), expected);
}

}  // namespace
}  // namespace relay::dkim
