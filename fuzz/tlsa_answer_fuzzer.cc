// tlsa_answer_fuzzer.cc -- libFuzzer harness for the DNS answer parser DANE uses
// (relay/delivery/tlsa_answer.h).
//
// Untrusted bytes: the whole input, as a DNS message from the resolver. Properties:
//   * the parser never crashes nor reads outside the input (ASan);
//   * what it accepts holds at most tlsa_records_max records, each with fewer data octets than
//     the message, and parsing is deterministic;
//   * a message it accepts is still accepted with bytes appended (trailing sections are never
//     read past the answer section), and gives the same records;
//   * the AD bit it reports is bit 5 of octet 3, for any message of 12 octets or more.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "relay/delivery/tlsa_answer.h"

namespace {

void check(bool condition) {
    if (!condition) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using relay::delivery::dns_answer_authenticated;
    using relay::delivery::parse_tlsa_answer;
    const std::span<const std::uint8_t> message(data, size);
    const auto records = parse_tlsa_answer(message);
    check(parse_tlsa_answer(message) == records);
    check(dns_answer_authenticated(message) == (size >= 12 && (data[3] & 0x20) != 0));
    if (!records) {
        return 0;
    }
    check(records->size() <= relay::delivery::tlsa_records_max);
    for (const relay::tls::TlsaRecord& record : *records) {
        check(record.data.size() < size);
    }
    std::vector<std::uint8_t> longer(data, data + size);
    longer.insert(longer.end(), {0xde, 0xad, 0xbe, 0xef});
    check(parse_tlsa_answer(longer) == records);
    return 0;
}
