// record.h -- the on-disk record format of spool segments (docs/spool-format.md).
//
// A segment is an append-only file of records. Every record is a 24-byte header, a payload and
// zero padding to a multiple of 8 bytes:
//
//     u32 tag        (record_magic | type)
//     u32 payload    bytes of payload (without padding)
//     u64 queue id   the message the record belongs to (0 for the segment header)
//     u64 checksum   XXH3-64 of the header (with this field zero) and the payload
//
// Integers are little-endian. A record is valid only if its tag, size and checksum are; a
// reader stops trusting a segment at the first invalid record (a torn tail after a crash) and
// resynchronises at the next valid one. Structured payloads are TLV lists (u16 tag, u32 length,
// bytes) so that later versions can add fields that older readers skip.
//
// Pure: encoding and decoding only. Decoding handles untrusted bytes (a damaged disk, a file
// an operator copied in): never a read outside the buffer.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace relay::spool {

inline constexpr std::uint32_t record_magic = 0x52454C00;  // "REL" then the type byte
inline constexpr std::size_t record_header_bytes = 24;
inline constexpr std::uint32_t record_payload_bytes_max = 64u << 20;
inline constexpr std::uint32_t segment_format_version = 1;

enum class RecordType : std::uint8_t {
    segment_header = 1,  // first record of every segment
    body_chunk = 2,      // a piece of a message's stored bytes
    message = 3,         // the envelope and chunk list: the commit record of a message
    recipient_done = 4,  // a recipient reached a final state
    deferred = 5,        // a delivery attempt was deferred
    message_done = 6,    // every recipient is final, or the message was deleted
    retry_now = 7,       // an operator asked for an immediate retry
};

struct RecordHeader {
    RecordType type;
    std::uint32_t payload_bytes;
    std::uint64_t queue_id;
    std::uint64_t checksum;
};

constexpr std::size_t padded_bytes(std::size_t payload_bytes) {
    return (payload_bytes + 7) & ~std::size_t{7};
}
constexpr std::size_t record_bytes(std::size_t payload_bytes) {
    return record_header_bytes + padded_bytes(payload_bytes);
}

// The 24-byte header of a record with this payload (checksum included).
std::array<char, record_header_bytes> make_record_header(RecordType type, std::uint64_t queue_id,
                                                         std::string_view payload);

// Appends a whole record (header, payload, padding) to `out`.
void append_record(std::string& out, RecordType type, std::uint64_t queue_id,
                   std::string_view payload);
// Appends a record whose payload is the concatenation of `parts` (avoids building it first).
void append_record_parts(std::string& out, RecordType type, std::uint64_t queue_id,
                         std::span<const std::string_view> parts);

// Decodes a header (no checksum check); nullopt if the tag or size is impossible.
std::optional<RecordHeader> decode_header(std::string_view bytes);
// Checks the checksum of a decoded header against its payload.
bool checksum_matches(std::string_view header_bytes, std::string_view payload);

// TLV writing and reading for structured payloads.
class TlvWriter {
  public:
    explicit TlvWriter(std::string& out) : out_(out) {}
    void bytes(std::uint16_t tag, std::string_view value);
    void u64(std::uint16_t tag, std::uint64_t value);

  private:
    std::string& out_;
};

class TlvReader {
  public:
    explicit TlvReader(std::string_view payload) : rest_(payload) {}
    // The next field; false at the end or on a malformed list (then `malformed()` is true).
    bool next(std::uint16_t& tag, std::string_view& value);
    bool malformed() const { return malformed_; }
    static std::optional<std::uint64_t> as_u64(std::string_view value);

  private:
    std::string_view rest_;
    bool malformed_ = false;
};

void put_u32(std::string& out, std::uint32_t value);
void put_u64(std::string& out, std::uint64_t value);
std::uint32_t get_u32(const char* bytes);
std::uint64_t get_u64(const char* bytes);

}  // namespace relay::spool
