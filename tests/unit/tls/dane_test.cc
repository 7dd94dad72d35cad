// dane_test.cc -- TLSA matching (relay/tls/dane.h) on the fixed certificates of tests/unit/tls/dane
// (made by make_certificates.sh), with the records' data as OpenSSL computed it.
#include "relay/tls/dane.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace relay::tls {
namespace {

const std::string data_folder = std::string(RELAY_SOURCE_ROOT) + "/tests/unit/tls/dane/";
const std::vector<std::string> mx_names = {"mx.dane.test"};

std::vector<std::uint8_t> read_der(const std::string& name) {
    std::ifstream file(data_folder + name + ".der", std::ios::binary);
    EXPECT_TRUE(file.good()) << name;
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(file), {});
}

std::vector<std::uint8_t> from_hex(const std::string& hex) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t index = 0; index + 1 < hex.size(); index += 2) {
        bytes.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(index, 2), nullptr, 16)));
    }
    return bytes;
}

// The record data of tlsa.txt: (certificate, selector, matching) -> data.
const std::map<std::tuple<std::string, int, int>, std::vector<std::uint8_t>>& openssl_data() {
    static const auto table = [] {
        std::map<std::tuple<std::string, int, int>, std::vector<std::uint8_t>> rows;
        std::ifstream file(data_folder + "tlsa.txt");
        std::string line;
        while (std::getline(file, line)) {
            std::istringstream fields(line);
            std::string name, hex;
            int selector = 0, matching = 0;
            fields >> name >> selector >> matching >> hex;
            rows[{name, selector, matching}] = from_hex(hex);
        }
        return rows;
    }();
    return table;
}

TlsaRecord record_for(std::uint8_t usage, const std::string& certificate, int selector,
                      int matching) {
    auto found = openssl_data().find({certificate, selector, matching});
    EXPECT_NE(found, openssl_data().end()) << certificate;
    return TlsaRecord{usage, static_cast<std::uint8_t>(selector),
                      static_cast<std::uint8_t>(matching), found->second};
}

std::vector<std::vector<std::uint8_t>> chain_of(std::initializer_list<const char*> names) {
    std::vector<std::vector<std::uint8_t>> chain;
    for (const char* name : names) {
        chain.push_back(read_der(name));
    }
    return chain;
}

constexpr std::uint8_t dane_ee = 3;
constexpr std::uint8_t dane_ta = 2;

class EverySelectorAndMatching : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(EverySelectorAndMatching, DaneEeMatchesTheLeafOnly) {
    auto [selector, matching] = GetParam();
    auto chain = chain_of({"leaf", "intermediate", "root"});
    std::vector<TlsaRecord> records = {record_for(dane_ee, "leaf", selector, matching)};
    DaneVerdict verdict = dane_verify(chain, records, mx_names);
    EXPECT_TRUE(verdict.matched) << verdict.detail;
    EXPECT_NE(verdict.detail.find("matched the leaf"), std::string::npos) << verdict.detail;

    // The same record for another server's certificate.
    auto stranger = chain_of({"stranger"});
    verdict = dane_verify(stranger, records, mx_names);
    EXPECT_FALSE(verdict.matched);
    EXPECT_EQ(verdict.detail, "no TLSA record matches");

    // DANE-EE names the leaf, not a certificate above it.
    records = {record_for(dane_ee, "intermediate", selector, matching)};
    EXPECT_FALSE(dane_verify(chain, records, mx_names).matched);
}

TEST_P(EverySelectorAndMatching, DaneTaMatchesTheRootOrTheIntermediate) {
    auto [selector, matching] = GetParam();
    auto chain = chain_of({"leaf", "intermediate", "root"});
    std::vector<TlsaRecord> records = {record_for(dane_ta, "root", selector, matching)};
    DaneVerdict verdict = dane_verify(chain, records, mx_names);
    EXPECT_TRUE(verdict.matched) << verdict.detail;
    EXPECT_NE(verdict.detail.find("depth 2"), std::string::npos) << verdict.detail;

    // The intermediate as the anchor, the server sending no root.
    auto short_chain = chain_of({"leaf", "intermediate"});
    records = {record_for(dane_ta, "intermediate", selector, matching)};
    verdict = dane_verify(short_chain, records, mx_names);
    EXPECT_TRUE(verdict.matched) << verdict.detail;
    EXPECT_NE(verdict.detail.find("depth 1"), std::string::npos) << verdict.detail;

    // A DANE-TA record never matches the leaf itself.
    records = {record_for(dane_ta, "leaf", selector, matching)};
    EXPECT_FALSE(dane_verify(chain, records, mx_names).matched);
}

INSTANTIATE_TEST_SUITE_P(Tlsa, EverySelectorAndMatching,
                         ::testing::Combine(::testing::Values(0, 1), ::testing::Values(0, 1, 2)));

TEST(DaneTa, TheLeafMustBeIssuedForTheMxHost) {
    auto chain = chain_of({"wrong_name", "intermediate", "root"});
    std::vector<TlsaRecord> records = {record_for(dane_ta, "root", 1, 1)};
    DaneVerdict verdict = dane_verify(chain, records, mx_names);
    EXPECT_FALSE(verdict.matched);
    EXPECT_NE(verdict.detail.find("not issued for mx.dane.test"), std::string::npos)
        << verdict.detail;
    std::vector<std::string> other = {"other.dane.test"};
    EXPECT_TRUE(dane_verify(chain, records, other).matched);
}

TEST(DaneTa, AChainThatDoesNotLeadToTheAnchorFails) {
    // The anchor is present, but the leaf was not issued by the certificate below it.
    auto chain = chain_of({"stranger", "intermediate", "root"});
    std::vector<TlsaRecord> records = {record_for(dane_ta, "root", 0, 1)};
    DaneVerdict verdict = dane_verify(chain, records, mx_names);
    EXPECT_FALSE(verdict.matched);
    EXPECT_NE(verdict.detail.find("depth 0 does not verify"), std::string::npos) << verdict.detail;
    // The root named as anchor but sent with the leaf right under it: the link is missing.
    chain = chain_of({"leaf", "root"});
    EXPECT_FALSE(dane_verify(chain, records, mx_names).matched);
}

TEST(DaneEe, NeitherDatesNorNamesAreChecked) {
    auto chain = chain_of({"expired"});
    std::vector<TlsaRecord> records = {record_for(dane_ee, "expired", 1, 1)};
    std::vector<std::string> elsewhere = {"elsewhere.example"};
    EXPECT_TRUE(dane_verify(chain, records, elsewhere).matched);
}

TEST(Dane, TheFirstMatchingRecordAmongSeveralWins) {
    auto chain = chain_of({"leaf", "intermediate", "root"});
    std::vector<TlsaRecord> records = {record_for(dane_ee, "stranger", 1, 1),
                                       record_for(dane_ta, "intermediate", 0, 2),
                                       record_for(dane_ee, "leaf", 0, 1)};
    DaneVerdict verdict = dane_verify(chain, records, mx_names);
    EXPECT_TRUE(verdict.matched);
    EXPECT_EQ(verdict.detail, "DANE-TA(2) Cert(0) SHA2-512(2) matched depth 1");
}

TEST(Dane, UnusableRecordsAreIgnoredEvenWhenTheirDataMatches) {
    auto chain = chain_of({"leaf", "intermediate", "root"});
    TlsaRecord good = record_for(dane_ee, "leaf", 1, 1);
    std::vector<TlsaRecord> unusable;
    for (std::uint8_t usage : {0, 1, 4, 255}) {
        TlsaRecord record = good;
        record.usage = usage;
        unusable.push_back(record);
    }
    TlsaRecord selector = good;
    selector.selector = 2;
    TlsaRecord matching = good;
    matching.matching = 3;
    TlsaRecord short_digest = good;
    short_digest.data.pop_back();
    TlsaRecord long_digest = record_for(dane_ee, "leaf", 1, 2);
    long_digest.matching = 1;  // 64 octets announced as SHA2-256
    TlsaRecord empty = good;
    empty.matching = 0;
    empty.data.clear();
    unusable.insert(unusable.end(), {selector, matching, short_digest, long_digest, empty});
    for (const TlsaRecord& record : unusable) {
        EXPECT_FALSE(tlsa_record_usable(record)) << tlsa_record_text(record);
    }
    EXPECT_TRUE(usable_tlsa_records(unusable).empty());
    DaneVerdict verdict = dane_verify(chain, unusable, mx_names);
    EXPECT_FALSE(verdict.matched);

    unusable.push_back(good);
    EXPECT_EQ(usable_tlsa_records(unusable), std::vector<TlsaRecord>{good});
    EXPECT_TRUE(dane_verify(chain, unusable, mx_names).matched);
}

TEST(Dane, GarbageCertificatesMatchNothing) {
    std::vector<std::vector<std::uint8_t>> chain = {{0x30, 0x03, 0x02, 0x01, 0x00}};
    TlsaRecord full{dane_ee, 0, 0, chain[0]};
    std::vector<TlsaRecord> records = {full};
    EXPECT_FALSE(dane_verify(chain, records, mx_names).matched);
    EXPECT_FALSE(dane_verify({}, records, mx_names).matched);
}

TEST(Dane, RecordTextReadsLikeAZoneFile) {
    TlsaRecord record{3, 1, 1, std::vector<std::uint8_t>(32, 0xab)};
    EXPECT_EQ(tlsa_record_text(record), "3 1 1 abababababababababababababababab...");
    // The report's form has the owner name and all of the data.
    std::string hex;
    for (int index = 0; index < 32; ++index) {
        hex += "AB";
    }
    EXPECT_EQ(tlsa_record_presentation(record, "mx.example.net", 25),
              "_25._tcp.mx.example.net. IN TLSA 3 1 1 " + hex);
    EXPECT_EQ(tlsa_record_presentation(TlsaRecord{2, 0, 2, {0x01, 0xfe}}, "mx.example.net.", 2525),
              "_2525._tcp.mx.example.net. IN TLSA 2 0 2 01FE");
}

}  // namespace
}  // namespace relay::tls
