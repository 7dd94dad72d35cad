// tlsa_answer.cc -- TLSA records and the AD bit out of a raw DNS message (RFC 1035 §4.1,
// RFC 6698 §2.1). Untrusted bytes throughout: every read is bounds-checked first.
#include "relay/delivery/tlsa_answer.h"

namespace relay::delivery {
namespace {

constexpr std::size_t header_bytes = 12;
constexpr std::uint8_t flag_authenticated_data = 0x20;  // byte 3 of the header
constexpr std::uint16_t class_in = 1;
constexpr std::size_t record_fixed_bytes = 10;  // TYPE, CLASS, TTL, RDLENGTH
constexpr std::size_t tlsa_fixed_bytes = 3;     // usage, selector, matching type

std::uint16_t read_u16(std::span<const std::uint8_t> message, std::size_t offset) {
    return static_cast<std::uint16_t>((message[offset] << 8) | message[offset + 1]);
}

// The offset just past the encoded name at `offset`; nullopt if it runs past the end. A
// compression pointer ends the name (its target is never read: the owner does not matter).
std::optional<std::size_t> skip_name(std::span<const std::uint8_t> message, std::size_t offset) {
    while (offset < message.size()) {
        const unsigned length = message[offset];
        if ((length & 0xC0) == 0xC0) {
            return offset + 2 <= message.size() ? std::optional(offset + 2) : std::nullopt;
        }
        if ((length & 0xC0) != 0) {
            return std::nullopt;  // the reserved label types 01 and 10 (RFC 6891 §5)
        }
        if (length == 0) {
            return offset + 1;
        }
        offset += 1 + length;
    }
    return std::nullopt;
}

}  // namespace

bool dns_answer_authenticated(std::span<const std::uint8_t> message) {
    return message.size() >= header_bytes && (message[3] & flag_authenticated_data) != 0;
}

std::optional<std::vector<tls::TlsaRecord>> parse_tlsa_answer(
    std::span<const std::uint8_t> message) {
    if (message.size() < header_bytes) {
        return std::nullopt;
    }
    const unsigned questions = read_u16(message, 4);
    const unsigned answers = read_u16(message, 6);
    std::size_t offset = header_bytes;
    for (unsigned index = 0; index < questions; ++index) {
        std::optional<std::size_t> end = skip_name(message, offset);
        if (!end || *end + 4 > message.size()) {
            return std::nullopt;
        }
        offset = *end + 4;  // QTYPE, QCLASS
    }
    std::vector<tls::TlsaRecord> records;
    for (unsigned index = 0; index < answers; ++index) {
        std::optional<std::size_t> end = skip_name(message, offset);
        if (!end || *end + record_fixed_bytes > message.size()) {
            return std::nullopt;
        }
        const std::uint16_t type = read_u16(message, *end);
        const std::uint16_t record_class = read_u16(message, *end + 2);
        const std::size_t data_bytes = read_u16(message, *end + 8);
        const std::size_t data = *end + record_fixed_bytes;
        if (data + data_bytes > message.size()) {
            return std::nullopt;
        }
        offset = data + data_bytes;
        if (type != dns_type_tlsa || record_class != class_in) {
            continue;  // a CNAME on the way, or an RRSIG
        }
        if (data_bytes < tlsa_fixed_bytes) {
            return std::nullopt;
        }
        if (records.size() == tlsa_records_max) {
            continue;
        }
        tls::TlsaRecord record;
        record.usage = message[data];
        record.selector = message[data + 1];
        record.matching = message[data + 2];
        record.data.assign(message.begin() + static_cast<std::ptrdiff_t>(data + tlsa_fixed_bytes),
                           message.begin() + static_cast<std::ptrdiff_t>(data + data_bytes));
        records.push_back(std::move(record));
    }
    return records;
}

}  // namespace relay::delivery
