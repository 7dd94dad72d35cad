// message_record.cc -- TLV payloads of message, recipient_done and deferred records.
#include "relay/spool/message_record.h"

#include "relay/base/assert.h"
#include "relay/spool/record.h"

namespace relay::spool {
namespace {

// Tags of the message record. Never reuse a number: old segments keep their meaning.
enum MessageTag : std::uint16_t {
    tag_reverse_path = 1,
    tag_recipient = 2,
    tag_flags = 3,
    tag_received_unix_ms = 4,
    tag_client_ip = 5,
    tag_client_helo = 6,
    tag_protocol = 7,
    tag_listener = 8,
    tag_body_bytes = 9,
    tag_body_hash = 10,
    tag_chunk = 11,
    tag_recipient_state = 12,
    tag_attempts = 13,
    tag_next_attempt = 14,
    tag_last_error = 15,
    tag_origin = 16,
    tag_header_bytes = 17,
    tag_resource = 18,  // absent in older records: accepted without a known resource
    // Absent in older records and when no DKIM key wanted them: 32 octets each.
    tag_dkim_body_sha256_relaxed = 19,
    tag_dkim_body_sha256_simple = 20,
    tag_dkim_signature = 21,  // repeated, in order; absent: unsigned
    tag_tls_version = 22,     // absent: received without TLS, or an older record
    tag_tls_cipher = 23,
    // Absent in older records and when none applies: sent with the sender as chosen at delivery,
    // and without an added Message-ID.
    tag_return_path = 24,
    tag_message_id = 25,
};

constexpr std::uint64_t flag_smtputf8 = 1;
constexpr std::uint64_t flag_eight_bit = 2;
constexpr std::uint64_t flag_no_final_crlf = 4;  // absent in older records: they end in CRLF

enum DoneTag : std::uint16_t { done_index = 1, done_status = 2, done_remote = 3, done_reply = 4 };
enum DeferTag : std::uint16_t { defer_attempts = 1, defer_next = 2, defer_error = 3 };

bool valid_status(std::uint64_t value) {
    return value <= static_cast<std::uint64_t>(RecipientStatus::deleted);
}

// recipient_state value: u32 index, u8 status, then TLV remote (1) and reply (2).
std::string encode_recipient_state(std::uint32_t index, const Recipient& recipient) {
    std::string value;
    put_u32(value, index);
    value.push_back(static_cast<char>(recipient.status));
    TlvWriter writer(value);
    writer.bytes(1, recipient.remote);
    writer.bytes(2, recipient.reply);
    return value;
}

bool decode_recipient_state(std::string_view value, QueuedMessage& message) {
    if (value.size() < 5) {
        return false;
    }
    std::uint32_t index = get_u32(value.data());
    auto status = static_cast<std::uint8_t>(value[4]);
    if (index >= message.recipients.size() || !valid_status(status)) {
        return false;
    }
    Recipient& recipient = message.recipients[index];
    recipient.status = static_cast<RecipientStatus>(status);
    TlvReader reader(value.substr(5));
    std::uint16_t tag = 0;
    std::string_view field;
    while (reader.next(tag, field)) {
        if (tag == 1) {
            recipient.remote = field;
        } else if (tag == 2) {
            recipient.reply = field;
        }
    }
    return !reader.malformed();
}

bool decode_chunk(std::string_view value, Envelope& envelope) {
    if (value.size() != 24) {
        return false;
    }
    ChunkRef chunk;
    chunk.segment = get_u64(value.data());
    chunk.offset = get_u64(value.data() + 8);
    std::uint64_t bytes = get_u64(value.data() + 16);
    if (bytes > record_payload_bytes_max) {
        return false;
    }
    chunk.bytes = static_cast<std::uint32_t>(bytes);
    envelope.chunks.push_back(chunk);
    return true;
}

bool decode_digest(std::string_view value, std::optional<std::array<std::uint8_t, 32>>& digest) {
    if (value.size() != 32) {
        return false;
    }
    std::array<std::uint8_t, 32> bytes{};
    for (std::size_t index = 0; index < bytes.size(); ++index) {
        bytes[index] = static_cast<std::uint8_t>(value[index]);
    }
    digest = bytes;
    return true;
}

void encode_digest(TlvWriter& writer, std::uint16_t tag,
                   const std::optional<std::array<std::uint8_t, 32>>& digest) {
    if (digest) {
        writer.bytes(
            tag, std::string_view(reinterpret_cast<const char*>(digest->data()), digest->size()));
    }
}

bool decode_envelope_field(std::uint16_t tag, std::string_view value, QueuedMessage& message) {
    Envelope& envelope = message.envelope;
    auto number = TlvReader::as_u64(value);
    switch (tag) {
        case tag_reverse_path:
            envelope.reverse_path = value;
            return true;
        case tag_recipient:
            message.recipients.push_back(Recipient{std::string(value)});
            return true;
        case tag_flags:
            envelope.smtputf8 = number && (*number & flag_smtputf8);
            envelope.eight_bit = number && (*number & flag_eight_bit);
            envelope.ends_with_crlf = !(number && (*number & flag_no_final_crlf));
            return number.has_value();
        case tag_received_unix_ms:
            envelope.received_unix_ms = number.value_or(0);
            return number.has_value();
        case tag_client_ip:
            envelope.client_ip = value;
            return true;
        case tag_client_helo:
            envelope.client_helo = value;
            return true;
        case tag_protocol:
            envelope.protocol = value;
            return true;
        case tag_listener:
            envelope.listener = value;
            return true;
        case tag_resource:
            envelope.resource = value;
            return value.size() <= resource_bytes_max;
        case tag_body_bytes:
            envelope.body_bytes = number.value_or(0);
            return number.has_value();
        case tag_body_hash:
            envelope.body_hash = number.value_or(0);
            return number.has_value();
        case tag_chunk:
            return decode_chunk(value, envelope);
        case tag_dkim_body_sha256_relaxed:
            return decode_digest(value, envelope.dkim_body_sha256_relaxed);
        case tag_dkim_body_sha256_simple:
            return decode_digest(value, envelope.dkim_body_sha256_simple);
        case tag_tls_version:
            envelope.tls_version = value;
            return value.size() <= tls_name_bytes_max;
        case tag_tls_cipher:
            envelope.tls_cipher = value;
            return value.size() <= tls_name_bytes_max;
        case tag_return_path:
            envelope.return_path = value;
            return value.size() <= return_path_bytes_max;
        case tag_message_id:
            envelope.message_id = value;
            return value.size() <= message_id_bytes_max;
        case tag_dkim_signature:
            envelope.dkim_signatures.emplace_back(value);
            return value.size() <= dkim_signature_bytes_max &&
                   envelope.dkim_signatures.size() <= dkim_signatures_max;
        case tag_origin:
            envelope.origin = number.value_or(0) == 1 ? Origin::dsn : Origin::client;
            return number.has_value();
        case tag_header_bytes:
            envelope.header_bytes = static_cast<std::uint32_t>(number.value_or(0));
            return number.has_value();
        default:
            return true;  // a field from a newer version: skipped
    }
}

}  // namespace

const char* recipient_status_name(RecipientStatus status) {
    switch (status) {
        case RecipientStatus::pending:
            return "pending";
        case RecipientStatus::delivered:
            return "delivered";
        case RecipientStatus::failed:
            return "failed";
        case RecipientStatus::deleted:
            return "deleted";
    }
    return "unknown";
}

std::string_view resource_label(const Envelope& envelope) {
    return envelope.resource.empty() ? std::string_view("-") : envelope.resource;
}

bool QueuedMessage::finished() const {
    return pending_count() == 0;
}

std::size_t QueuedMessage::pending_count() const {
    std::size_t count = 0;
    for (const Recipient& recipient : recipients) {
        count += recipient.status == RecipientStatus::pending ? 1 : 0;
    }
    return count;
}

std::string encode_message(const QueuedMessage& message) {
    const Envelope& envelope = message.envelope;
    std::string payload;
    payload.reserve(256 + 64 * message.recipients.size());
    TlvWriter writer(payload);
    writer.bytes(tag_reverse_path, envelope.reverse_path);
    for (const Recipient& recipient : message.recipients) {
        writer.bytes(tag_recipient, recipient.address);
    }
    writer.u64(tag_flags, (envelope.smtputf8 ? flag_smtputf8 : 0) |
                              (envelope.eight_bit ? flag_eight_bit : 0) |
                              (envelope.ends_with_crlf ? 0 : flag_no_final_crlf));
    writer.u64(tag_received_unix_ms, envelope.received_unix_ms);
    writer.bytes(tag_client_ip, envelope.client_ip);
    writer.bytes(tag_client_helo, envelope.client_helo);
    writer.bytes(tag_protocol, envelope.protocol);
    writer.bytes(tag_listener, envelope.listener);
    RELAY_ASSERT(envelope.resource.size() <= resource_bytes_max);
    if (!envelope.resource.empty()) {
        writer.bytes(tag_resource, envelope.resource);
    }
    writer.u64(tag_origin, static_cast<std::uint64_t>(envelope.origin));
    writer.u64(tag_body_bytes, envelope.body_bytes);
    writer.u64(tag_body_hash, envelope.body_hash);
    writer.u64(tag_header_bytes, envelope.header_bytes);
    encode_digest(writer, tag_dkim_body_sha256_relaxed, envelope.dkim_body_sha256_relaxed);
    encode_digest(writer, tag_dkim_body_sha256_simple, envelope.dkim_body_sha256_simple);
    if (!envelope.tls_version.empty()) {
        RELAY_ASSERT(envelope.tls_version.size() <= tls_name_bytes_max);
        RELAY_ASSERT(envelope.tls_cipher.size() <= tls_name_bytes_max);
        writer.bytes(tag_tls_version, envelope.tls_version);
        writer.bytes(tag_tls_cipher, envelope.tls_cipher);
    }
    RELAY_ASSERT(envelope.return_path.size() <= return_path_bytes_max);
    if (!envelope.return_path.empty()) {
        writer.bytes(tag_return_path, envelope.return_path);
    }
    RELAY_ASSERT(envelope.message_id.size() <= message_id_bytes_max);
    if (!envelope.message_id.empty()) {
        writer.bytes(tag_message_id, envelope.message_id);
    }
    RELAY_ASSERT(envelope.dkim_signatures.size() <= dkim_signatures_max);
    for (const std::string& field : envelope.dkim_signatures) {
        RELAY_ASSERT(field.size() <= dkim_signature_bytes_max);
        writer.bytes(tag_dkim_signature, field);
    }
    for (const ChunkRef& chunk : envelope.chunks) {
        std::string value;
        put_u64(value, chunk.segment);
        put_u64(value, chunk.offset);
        put_u64(value, chunk.bytes);
        writer.bytes(tag_chunk, value);
    }
    for (std::size_t index = 0; index < message.recipients.size(); ++index) {
        const Recipient& recipient = message.recipients[index];
        if (recipient.status != RecipientStatus::pending || !recipient.reply.empty()) {
            writer.bytes(tag_recipient_state,
                         encode_recipient_state(static_cast<std::uint32_t>(index), recipient));
        }
    }
    if (message.attempts > 0) {
        writer.u64(tag_attempts, message.attempts);
        writer.u64(tag_next_attempt, message.next_attempt_unix_ms);
        writer.bytes(tag_last_error, message.last_error);
    }
    return payload;
}

std::optional<QueuedMessage> decode_message(QueueId id, std::string_view payload) {
    QueuedMessage message;
    message.id = id;
    TlvReader reader(payload);
    std::uint16_t tag = 0;
    std::string_view value;
    std::vector<std::string_view> states;
    while (reader.next(tag, value)) {
        bool ok = true;
        if (tag == tag_recipient_state) {
            states.push_back(value);  // needs the recipient list, which may come later
        } else if (tag == tag_attempts) {
            message.attempts = static_cast<std::uint32_t>(TlvReader::as_u64(value).value_or(0));
        } else if (tag == tag_next_attempt) {
            message.next_attempt_unix_ms = TlvReader::as_u64(value).value_or(0);
        } else if (tag == tag_last_error) {
            message.last_error = value;
        } else {
            ok = decode_envelope_field(tag, value, message);
        }
        if (!ok) {
            return std::nullopt;
        }
    }
    if (reader.malformed() || message.recipients.empty()) {
        return std::nullopt;
    }
    for (std::string_view state : states) {
        if (!decode_recipient_state(state, message)) {
            return std::nullopt;
        }
    }
    return message;
}

std::string encode_recipient_done(const RecipientDone& done) {
    std::string payload;
    TlvWriter writer(payload);
    writer.u64(done_index, done.index);
    writer.u64(done_status, static_cast<std::uint64_t>(done.status));
    writer.bytes(done_remote, done.remote);
    writer.bytes(done_reply, done.reply);
    return payload;
}

std::optional<RecipientDone> decode_recipient_done(std::string_view payload) {
    RecipientDone done;
    bool have_index = false;
    bool have_status = false;
    TlvReader reader(payload);
    std::uint16_t tag = 0;
    std::string_view value;
    while (reader.next(tag, value)) {
        auto number = TlvReader::as_u64(value);
        if (tag == done_index && number && *number <= 0xFFFFFFFFu) {
            done.index = static_cast<std::uint32_t>(*number);
            have_index = true;
        } else if (tag == done_status && number && valid_status(*number)) {
            done.status = static_cast<RecipientStatus>(*number);
            have_status = true;
        } else if (tag == done_remote) {
            done.remote = value;
        } else if (tag == done_reply) {
            done.reply = value;
        }
    }
    if (reader.malformed() || !have_index || !have_status) {
        return std::nullopt;
    }
    return done;
}

std::string encode_deferral(const Deferral& deferral) {
    std::string payload;
    TlvWriter writer(payload);
    writer.u64(defer_attempts, deferral.attempts);
    writer.u64(defer_next, deferral.next_attempt_unix_ms);
    writer.bytes(defer_error, deferral.last_error);
    return payload;
}

std::optional<Deferral> decode_deferral(std::string_view payload) {
    Deferral deferral;
    TlvReader reader(payload);
    std::uint16_t tag = 0;
    std::string_view value;
    while (reader.next(tag, value)) {
        auto number = TlvReader::as_u64(value);
        if (tag == defer_attempts && number) {
            deferral.attempts = static_cast<std::uint32_t>(*number);
        } else if (tag == defer_next && number) {
            deferral.next_attempt_unix_ms = *number;
        } else if (tag == defer_error) {
            deferral.last_error = value;
        }
    }
    if (reader.malformed()) {
        return std::nullopt;
    }
    return deferral;
}

void apply(QueuedMessage& message, const RecipientDone& done) {
    if (done.index >= message.recipients.size()) {
        return;  // a record from a damaged segment; the message record is authoritative
    }
    Recipient& recipient = message.recipients[done.index];
    recipient.status = done.status;
    recipient.remote = done.remote;
    recipient.reply = done.reply;
}

void apply(QueuedMessage& message, const Deferral& deferral) {
    message.attempts = std::max(message.attempts, deferral.attempts);
    message.next_attempt_unix_ms = deferral.next_attempt_unix_ms;
    message.last_error = deferral.last_error;
}

}  // namespace relay::spool
