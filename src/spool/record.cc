// record.cc -- encoding and decoding spool records.
#include "relay/spool/record.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <cstring>

#include "relay/base/assert.h"

namespace relay::spool {
namespace {

constexpr char zeros[8] = {};

std::uint64_t header_and_payload_hash(std::string_view header, std::string_view payload) {
    RELAY_ASSERT(header.size() == record_header_bytes);
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, header.data(), 16);  // the checksum field is not hashed
    XXH3_64bits_update(&state, payload.data(), payload.size());
    return XXH3_64bits_digest(&state);
}

}  // namespace

void put_u32(std::string& out, std::uint32_t value) {
    char bytes[4];
    for (int index = 0; index < 4; ++index) {
        bytes[index] = static_cast<char>((value >> (8 * index)) & 0xFF);
    }
    out.append(bytes, 4);
}

void put_u64(std::string& out, std::uint64_t value) {
    char bytes[8];
    for (int index = 0; index < 8; ++index) {
        bytes[index] = static_cast<char>((value >> (8 * index)) & 0xFF);
    }
    out.append(bytes, 8);
}

std::uint32_t get_u32(const char* bytes) {
    std::uint32_t value = 0;
    for (int index = 3; index >= 0; --index) {
        value = (value << 8) | static_cast<unsigned char>(bytes[index]);
    }
    return value;
}

std::uint64_t get_u64(const char* bytes) {
    std::uint64_t value = 0;
    for (int index = 7; index >= 0; --index) {
        value = (value << 8) | static_cast<unsigned char>(bytes[index]);
    }
    return value;
}

std::array<char, record_header_bytes> make_record_header(RecordType type, std::uint64_t queue_id,
                                                         std::string_view payload) {
    RELAY_ASSERT(payload.size() <= record_payload_bytes_max);
    std::string header;
    header.reserve(record_header_bytes);
    put_u32(header, record_magic | static_cast<std::uint32_t>(type));
    put_u32(header, static_cast<std::uint32_t>(payload.size()));
    put_u64(header, queue_id);
    put_u64(header, 0);
    std::uint64_t checksum = header_and_payload_hash(header, payload);
    std::array<char, record_header_bytes> result{};
    std::memcpy(result.data(), header.data(), 16);
    for (int index = 0; index < 8; ++index) {
        result[16 + static_cast<std::size_t>(index)] =
            static_cast<char>((checksum >> (8 * index)) & 0xFF);
    }
    return result;
}

void append_record_parts(std::string& out, RecordType type, std::uint64_t queue_id,
                         std::span<const std::string_view> parts) {
    std::size_t payload_bytes = 0;
    for (std::string_view part : parts) {
        payload_bytes += part.size();
    }
    RELAY_ASSERT(payload_bytes <= record_payload_bytes_max);
    std::size_t header_at = out.size();
    out.append(record_header_bytes, '\0');
    std::size_t payload_at = out.size();
    for (std::string_view part : parts) {
        out.append(part);
    }
    out.append(zeros, padded_bytes(payload_bytes) - payload_bytes);
    auto header = make_record_header(type, queue_id,
                                     std::string_view(out.data() + payload_at, payload_bytes));
    std::memcpy(out.data() + header_at, header.data(), header.size());
}

void append_record(std::string& out, RecordType type, std::uint64_t queue_id,
                   std::string_view payload) {
    std::string_view parts[] = {payload};
    append_record_parts(out, type, queue_id, parts);
}

std::optional<RecordHeader> decode_header(std::string_view bytes) {
    if (bytes.size() < record_header_bytes) {
        return std::nullopt;
    }
    std::uint32_t tag = get_u32(bytes.data());
    if ((tag & 0xFFFFFF00u) != record_magic) {
        return std::nullopt;
    }
    auto type = static_cast<std::uint8_t>(tag & 0xFF);
    if (type < static_cast<std::uint8_t>(RecordType::segment_header) ||
        type > static_cast<std::uint8_t>(RecordType::retry_now)) {
        return std::nullopt;
    }
    RecordHeader header{};
    header.type = static_cast<RecordType>(type);
    header.payload_bytes = get_u32(bytes.data() + 4);
    if (header.payload_bytes > record_payload_bytes_max) {
        return std::nullopt;
    }
    header.queue_id = get_u64(bytes.data() + 8);
    header.checksum = get_u64(bytes.data() + 16);
    return header;
}

bool checksum_matches(std::string_view header_bytes, std::string_view payload) {
    return header_and_payload_hash(header_bytes.substr(0, record_header_bytes), payload) ==
           get_u64(header_bytes.data() + 16);
}

void TlvWriter::bytes(std::uint16_t tag, std::string_view value) {
    RELAY_ASSERT(value.size() <= record_payload_bytes_max);
    out_.push_back(static_cast<char>(tag & 0xFF));
    out_.push_back(static_cast<char>(tag >> 8));
    put_u32(out_, static_cast<std::uint32_t>(value.size()));
    out_.append(value);
}

void TlvWriter::u64(std::uint16_t tag, std::uint64_t value) {
    std::string encoded;
    put_u64(encoded, value);
    bytes(tag, encoded);
}

bool TlvReader::next(std::uint16_t& tag, std::string_view& value) {
    if (rest_.empty()) {
        return false;
    }
    if (rest_.size() < 6) {
        malformed_ = true;
        return false;
    }
    tag = static_cast<std::uint16_t>(static_cast<unsigned char>(rest_[0]) |
                                     (static_cast<unsigned char>(rest_[1]) << 8));
    std::uint32_t length = get_u32(rest_.data() + 2);
    if (length > rest_.size() - 6) {
        malformed_ = true;
        return false;
    }
    value = rest_.substr(6, length);
    rest_.remove_prefix(6 + length);
    return true;
}

std::optional<std::uint64_t> TlvReader::as_u64(std::string_view value) {
    if (value.size() != 8) {
        return std::nullopt;
    }
    return get_u64(value.data());
}

}  // namespace relay::spool
