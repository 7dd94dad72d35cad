// message_record.h -- what the spool knows about a message: envelope, chunks, delivery state,
// and the payloads of the records that persist them.
//
// Pure: encoding and decoding, no I/O. Decoding handles bytes read back from disk.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/spool/queue_id.h"

namespace relay::spool {

// Where a piece of the message's stored bytes lies: the record header's offset in a segment.
struct ChunkRef {
    std::uint64_t segment = 0;  // segment sequence number
    std::uint64_t offset = 0;   // offset of the body_chunk record's header
    std::uint32_t bytes = 0;    // payload bytes of that record
};

enum class RecipientStatus : std::uint8_t {
    pending = 0,
    delivered = 1,
    failed = 2,   // permanent failure (5xx, null MX, expired): a DSN is due
    deleted = 3,  // removed by an operator: no DSN
};
const char* recipient_status_name(RecipientStatus status);

struct Recipient {
    std::string address;
    RecipientStatus status = RecipientStatus::pending;
    std::string remote;  // the host that gave the final answer, if any
    std::string reply;   // that answer, or why it failed locally ("null MX", "expired")
};

enum class Origin : std::uint8_t {
    client = 0,  // accepted over SMTP
    dsn = 1,     // a delivery status notification relay generated
};

// The longest resource name a message record holds. A resource is named PROJECT/NAME (also its
// SMTP username), each part at most 63 bytes, so any valid name fits with room to spare; the
// bound keeps a damaged or hostile record from carrying an unbounded name into every report.
inline constexpr std::size_t resource_bytes_max = 255;

// Everything that is fixed when the message is accepted.
struct Envelope {
    std::string reverse_path;  // empty for the null sender
    bool smtputf8 = false;
    bool eight_bit = false;  // BODY=8BITMIME or 8-bit content seen
    std::uint64_t received_unix_ms = 0;
    std::string client_ip;
    std::string client_helo;
    std::string protocol;  // SMTP, ESMTP, ESMTPS, ESMTPSA (RFC 3848)
    std::string listener;
    std::string resource;  // the authenticated sender (PROJECT/NAME); empty: accepted without AUTH
    Origin origin = Origin::client;
    std::uint64_t body_bytes = 0;
    std::uint64_t body_hash = 0;  // XXH3-64 of the stored bytes
    bool ends_with_crlf = true;   // the stored bytes are empty or end in CRLF (BDAT may not)
    std::uint32_t header_bytes = 0;
    std::vector<ChunkRef> chunks;
    // The DKIM body hashes (SHA-256 of the canonical body, RFC 6376 §3.7) taken while the body
    // was received, one per canonicalization the resource's keys use, so that delivery signs
    // without reading the body. Absent: no key wanted it (or an older record); sent unsigned.
    std::optional<std::array<std::uint8_t, 32>> dkim_body_sha256_relaxed;
    std::optional<std::array<std::uint8_t, 32>> dkim_body_sha256_simple;
    // The DKIM-Signature fields made when the message was accepted (each whole, with its CRLF),
    // prepended at delivery in this order. Empty: sent unsigned.
    std::vector<std::string> dkim_signatures;
    // The TLS the client used ("TLSv1.3", "TLS_AES_128_GCM_SHA256"), for the Received: field;
    // empty without TLS or in older records. At most tls_name_bytes_max each.
    std::string tls_version;
    std::string tls_cipher;
    // The resource's own return path when the message was accepted: the envelope sender of
    // every delivery attempt, as it is (no VERP). Empty: none (or an older record). Fixed at
    // acceptance, so that changing it does not split the attempts of a queued message.
    std::string return_path;
    // The msg-id ("<QUEUEID.RANDOM@HOSTNAME>") relayd gave a message that came without a
    // Message-ID: field; prepended as "Message-ID: " at delivery and covered by its DKIM
    // signatures. Empty: the message had one (or an older record).
    std::string message_id;
};

inline constexpr std::size_t tls_name_bytes_max = 64;
// RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its angle brackets.
inline constexpr std::size_t return_path_bytes_max = 254;
inline constexpr std::size_t message_id_bytes_max = 255;

// The longest DKIM-Signature field a record holds: an RSA-4096 signature with every default
// header signed is under 2 KiB; the bound keeps a damaged record from growing every delivery.
inline constexpr std::size_t dkim_signature_bytes_max = 4096;
inline constexpr std::size_t dkim_signatures_max = 8;

// The resource as log lines (`resource=`) and `relayctl queue list` show it: "-" for none.
std::string_view resource_label(const Envelope& envelope);

struct QueuedMessage {
    QueueId id = 0;
    Envelope envelope;
    std::vector<Recipient> recipients;
    std::uint32_t attempts = 0;
    std::uint64_t next_attempt_unix_ms = 0;  // 0: as soon as possible
    std::string last_error;

    bool finished() const;  // no recipient pending
    std::size_t pending_count() const;
};

// Payload of a `message` record: the envelope, chunk list, and the delivery state at the time
// it is written (all pending for a new message; the current state for a copy made when a
// segment is compacted).
std::string encode_message(const QueuedMessage& message);
std::optional<QueuedMessage> decode_message(QueueId id, std::string_view payload);

struct RecipientDone {
    std::uint32_t index = 0;
    RecipientStatus status = RecipientStatus::delivered;
    std::string remote;
    std::string reply;
};
std::string encode_recipient_done(const RecipientDone& done);
std::optional<RecipientDone> decode_recipient_done(std::string_view payload);

struct Deferral {
    std::uint32_t attempts = 0;
    std::uint64_t next_attempt_unix_ms = 0;
    std::string last_error;
};
std::string encode_deferral(const Deferral& deferral);
std::optional<Deferral> decode_deferral(std::string_view payload);

// Applies a record to a message's state (recovery and live updates share this).
void apply(QueuedMessage& message, const RecipientDone& done);
void apply(QueuedMessage& message, const Deferral& deferral);

}  // namespace relay::spool
