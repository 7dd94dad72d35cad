// Record format and payload encodings: round trips, and damage is always detected.
#include "relay/spool/record.h"

#include <gtest/gtest.h>

#include <random>

#include "relay/spool/message_record.h"
#include "relay/spool/queue_id.h"

namespace relay::spool {
namespace {

TEST(Record, RoundTripAndPadding) {
    std::string out;
    append_record(out, RecordType::body_chunk, 0x1234, "hello");
    ASSERT_EQ(out.size(), record_bytes(5));
    ASSERT_EQ(out.size() % 8, 0u);
    auto header = decode_header(out);
    ASSERT_TRUE(header);
    EXPECT_EQ(header->type, RecordType::body_chunk);
    EXPECT_EQ(header->payload_bytes, 5u);
    EXPECT_EQ(header->queue_id, 0x1234u);
    EXPECT_TRUE(checksum_matches(out, std::string_view(out).substr(record_header_bytes, 5)));
}

TEST(Record, EveryFlippedBitIsDetected) {
    std::string out;
    append_record(out, RecordType::message, 77, "payload of some length");
    std::size_t payload = std::string_view("payload of some length").size();
    for (std::size_t byte = 0; byte < record_header_bytes + payload; ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string damaged = out;
            damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
            auto header = decode_header(damaged);
            bool valid = header && header->payload_bytes == payload &&
                         checksum_matches(damaged, std::string_view(damaged).substr(
                                                       record_header_bytes, payload));
            EXPECT_FALSE(valid) << "byte " << byte << " bit " << bit;
        }
    }
}

TEST(Record, ImpossibleHeadersAreRefused) {
    EXPECT_FALSE(decode_header(std::string(24, '\0')));
    EXPECT_FALSE(decode_header("short"));
    std::string out;
    append_record(out, RecordType::deferred, 1, "x");
    out[0] = 99;  // unknown type
    EXPECT_FALSE(decode_header(out));
}

QueuedMessage sample_message() {
    QueuedMessage message;
    message.id = 0xABCDEF;
    message.envelope.reverse_path = "sender@example.com";
    message.envelope.smtputf8 = true;
    message.envelope.eight_bit = true;
    message.envelope.received_unix_ms = 1'700'000'000'123;
    message.envelope.client_ip = "192.0.2.7";
    message.envelope.client_helo = "client.example.com";
    message.envelope.protocol = "ESMTP";
    message.envelope.listener = "submission";
    message.envelope.resource = "acme/newsletter";
    message.envelope.body_bytes = 300;
    message.envelope.body_hash = 0x1122334455667788;
    message.envelope.header_bytes = 120;
    message.envelope.chunks = {{1, 64, 100}, {2, 32, 200}};
    message.recipients = {{"a@example.net"}, {"b@example.org"}, {"ü@example.de"}};
    message.recipients[1].status = RecipientStatus::failed;
    message.recipients[1].remote = "mx[192.0.2.1]:25";
    message.recipients[1].reply = "550 5.1.1 no such user";
    message.attempts = 3;
    message.next_attempt_unix_ms = 1'700'000'900'000;
    message.last_error = "451 4.7.1 greylisted";
    return message;
}

TEST(MessageRecord, RoundTrip) {
    QueuedMessage original = sample_message();
    auto decoded = decode_message(original.id, encode_message(original));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->envelope.reverse_path, original.envelope.reverse_path);
    EXPECT_TRUE(decoded->envelope.smtputf8);
    EXPECT_TRUE(decoded->envelope.eight_bit);
    EXPECT_EQ(decoded->envelope.received_unix_ms, original.envelope.received_unix_ms);
    EXPECT_EQ(decoded->envelope.client_helo, original.envelope.client_helo);
    EXPECT_EQ(decoded->envelope.resource, "acme/newsletter");
    EXPECT_EQ(decoded->envelope.body_hash, original.envelope.body_hash);
    EXPECT_EQ(decoded->envelope.header_bytes, 120u);
    ASSERT_EQ(decoded->envelope.chunks.size(), 2u);
    EXPECT_EQ(decoded->envelope.chunks[1].segment, 2u);
    EXPECT_EQ(decoded->envelope.chunks[1].offset, 32u);
    EXPECT_EQ(decoded->envelope.chunks[1].bytes, 200u);
    ASSERT_EQ(decoded->recipients.size(), 3u);
    EXPECT_EQ(decoded->recipients[2].address, "ü@example.de");
    EXPECT_EQ(decoded->recipients[1].status, RecipientStatus::failed);
    EXPECT_EQ(decoded->recipients[1].reply, "550 5.1.1 no such user");
    EXPECT_EQ(decoded->recipients[0].status, RecipientStatus::pending);
    EXPECT_EQ(decoded->attempts, 3u);
    EXPECT_EQ(decoded->last_error, original.last_error);
    EXPECT_EQ(decoded->pending_count(), 2u);
}

TEST(MessageRecord, EveryResourceLengthUpToTheBoundRoundTrips) {
    std::mt19937 random(11);
    QueuedMessage original = sample_message();
    for (std::size_t length = 0; length <= resource_bytes_max; ++length) {
        original.envelope.resource.assign(length, '\0');
        for (char& c : original.envelope.resource) {
            c = static_cast<char>(random());  // any bytes: the record must not care
        }
        auto decoded = decode_message(original.id, encode_message(original));
        ASSERT_TRUE(decoded) << "length " << length;
        EXPECT_EQ(decoded->envelope.resource, original.envelope.resource) << "length " << length;
        EXPECT_EQ(decoded->envelope.listener, original.envelope.listener);
        EXPECT_EQ(decoded->recipients.size(), original.recipients.size());
    }
}

// Payloads as the previous build wrote them, byte for byte: tag 18 did not exist.
void old_field(std::string& out, std::uint16_t tag, std::string_view value) {
    out.push_back(static_cast<char>(tag & 0xFF));
    out.push_back(static_cast<char>(tag >> 8));
    for (int shift = 0; shift < 32; shift += 8) {
        out.push_back(static_cast<char>((value.size() >> shift) & 0xFF));
    }
    out.append(value);
}

std::string old_number(std::uint64_t value) {
    std::string out;
    for (int shift = 0; shift < 64; shift += 8) {
        out.push_back(static_cast<char>((value >> shift) & 0xFF));
    }
    return out;
}

TEST(MessageRecord, APayloadOfThePreviousFormatDecodesWithoutResource) {
    std::string payload;
    old_field(payload, 1, "sender@example.com");
    old_field(payload, 2, "a@example.net");
    old_field(payload, 3, old_number(0));
    old_field(payload, 4, old_number(1'700'000'000'123));
    old_field(payload, 5, "192.0.2.7");
    old_field(payload, 6, "client.example.com");
    old_field(payload, 7, "ESMTP");
    old_field(payload, 8, "submission");
    old_field(payload, 16, old_number(0));
    old_field(payload, 9, old_number(5));
    old_field(payload, 10, old_number(77));
    old_field(payload, 17, old_number(0));
    old_field(payload, 11, old_number(1) + old_number(64) + old_number(5));
    auto decoded = decode_message(9, payload);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->envelope.resource, "");
    EXPECT_EQ(decoded->envelope.reverse_path, "sender@example.com");
    EXPECT_EQ(decoded->envelope.listener, "submission");
    ASSERT_EQ(decoded->envelope.chunks.size(), 1u);
    EXPECT_EQ(decoded->envelope.chunks[0].bytes, 5u);
    // A message without a resource is written exactly as before, so an older build reads a
    // spool this build wrote for mail accepted without AUTH.
    EXPECT_EQ(encode_message(*decoded), payload);
}

TEST(MessageRecord, DkimBodyHashesRoundTripEachOnItsOwn) {
    QueuedMessage original = sample_message();
    std::array<std::uint8_t, 32> relaxed{};
    std::array<std::uint8_t, 32> simple{};
    for (std::size_t index = 0; index < 32; ++index) {
        relaxed[index] = static_cast<std::uint8_t>(index * 7 + 1);
        simple[index] = static_cast<std::uint8_t>(255 - index);
    }
    original.envelope.dkim_body_sha256_relaxed = relaxed;
    auto decoded = decode_message(original.id, encode_message(original));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->envelope.dkim_body_sha256_relaxed, relaxed);
    EXPECT_FALSE(decoded->envelope.dkim_body_sha256_simple);
    original.envelope.dkim_body_sha256_simple = simple;
    decoded = decode_message(original.id, encode_message(original));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->envelope.dkim_body_sha256_relaxed, relaxed);
    EXPECT_EQ(decoded->envelope.dkim_body_sha256_simple, simple);
    EXPECT_EQ(decoded->recipients.size(), 3u);
    // the previous format (no tags 19, 20) reads as unsigned: see the test above
    EXPECT_FALSE(
        decode_message(1, encode_message(sample_message()))->envelope.dkim_body_sha256_relaxed);
}

TEST(MessageRecord, DkimSignaturesRoundTripInOrderAndTooManyOrTooLongAreDamage) {
    QueuedMessage original = sample_message();
    original.envelope.dkim_signatures = {"DKIM-Signature: v=1; a=rsa-sha256\r\n",
                                         "DKIM-Signature: v=1; a=ed25519-sha256\r\n"};
    auto decoded = decode_message(original.id, encode_message(original));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->envelope.dkim_signatures, original.envelope.dkim_signatures);
    std::string payload = encode_message(sample_message());
    old_field(payload, 21, std::string(dkim_signature_bytes_max + 1, 's'));
    EXPECT_FALSE(decode_message(1, payload));
    payload = encode_message(sample_message());
    for (std::size_t index = 0; index <= dkim_signatures_max; ++index) {
        old_field(payload, 21, "DKIM-Signature: x\r\n");
    }
    EXPECT_FALSE(decode_message(1, payload));
}

TEST(MessageRecord, TlsVersionAndCipherRoundTripAndTooLongIsDamage) {
    QueuedMessage original = sample_message();
    original.envelope.tls_version = "TLSv1.3";
    original.envelope.tls_cipher = "TLS_AES_128_GCM_SHA256";
    auto decoded = decode_message(original.id, encode_message(original));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->envelope.tls_version, "TLSv1.3");
    EXPECT_EQ(decoded->envelope.tls_cipher, "TLS_AES_128_GCM_SHA256");
    EXPECT_EQ(decode_message(1, encode_message(sample_message()))->envelope.tls_version, "");
    std::string payload = encode_message(sample_message());
    old_field(payload, 23, std::string(tls_name_bytes_max + 1, 'c'));
    EXPECT_FALSE(decode_message(1, payload));
}

TEST(MessageRecord, ReturnPathAndMessageIdRoundTripAndTooLongIsDamage) {
    QueuedMessage original = sample_message();
    original.envelope.return_path = "bounce-handler@returns.example.net";
    original.envelope.message_id = "<00000000000000a1.k3j5@relay.example>";
    auto decoded = decode_message(original.id, encode_message(original));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->envelope.return_path, original.envelope.return_path);
    EXPECT_EQ(decoded->envelope.message_id, original.envelope.message_id);
    auto older = decode_message(1, encode_message(sample_message()));  // without the fields
    ASSERT_TRUE(older);
    EXPECT_EQ(older->envelope.return_path, "");
    EXPECT_EQ(older->envelope.message_id, "");
    std::string payload = encode_message(sample_message());
    old_field(payload, 24, std::string(return_path_bytes_max + 1, 'r'));
    EXPECT_FALSE(decode_message(1, payload));
    payload = encode_message(sample_message());
    old_field(payload, 25, std::string(message_id_bytes_max + 1, 'm'));
    EXPECT_FALSE(decode_message(1, payload));
}

TEST(MessageRecord, ADkimBodyHashOfAnotherLengthIsRefusedAsDamage) {
    for (std::size_t length : {0, 31, 33}) {
        std::string payload = encode_message(sample_message());
        old_field(payload, 19, std::string(length, 'h'));
        EXPECT_FALSE(decode_message(1, payload)) << length;
    }
}

TEST(MessageRecord, AResourceAboveTheBoundIsRefusedAsDamage) {
    std::string payload = encode_message(sample_message());
    old_field(payload, 18, std::string(resource_bytes_max + 1, 'r'));
    EXPECT_FALSE(decode_message(1, payload));
}

TEST(MessageRecord, TruncatedOrRandomPayloadsNeverCrash) {
    std::string payload = encode_message(sample_message());
    for (std::size_t length = 0; length < payload.size(); ++length) {
        auto decoded = decode_message(1, std::string_view(payload).substr(0, length));
        if (decoded) {
            // A prefix that ends on a field boundary may decode; it must still be coherent.
            EXPECT_FALSE(decoded->recipients.empty());
        }
    }
    std::mt19937 random(7);
    for (int round = 0; round < 2000; ++round) {
        std::string noise(random() % 200, '\0');
        for (char& c : noise) {
            c = static_cast<char>(random());
        }
        (void)decode_message(1, noise);
        (void)decode_recipient_done(noise);
        (void)decode_deferral(noise);
    }
}

TEST(MessageRecord, OutcomesApply) {
    QueuedMessage message = sample_message();
    auto done = decode_recipient_done(
        encode_recipient_done({0, RecipientStatus::delivered, "mx[1.2.3.4]:25", "250 ok"}));
    ASSERT_TRUE(done);
    apply(message, *done);
    EXPECT_EQ(message.recipients[0].status, RecipientStatus::delivered);
    auto deferral = decode_deferral(encode_deferral({5, 42, "timeout"}));
    ASSERT_TRUE(deferral);
    apply(message, *deferral);
    EXPECT_EQ(message.attempts, 5u);
    EXPECT_EQ(message.next_attempt_unix_ms, 42u);
    // An index beyond the recipients (a damaged record) changes nothing.
    apply(message, RecipientDone{9, RecipientStatus::delivered, "", ""});
    EXPECT_EQ(message.pending_count(), 1u);
}

TEST(QueueId, UniqueOrderedAndPrintable) {
    QueueIdGenerator generator(3, 0);
    QueueId previous = 0;
    for (int index = 0; index < 40000; ++index) {  // more than one millisecond's counter
        QueueId id = generator.next(1'700'000'000'000);
        EXPECT_GT(id, previous);
        previous = id;
    }
    std::string text = format_queue_id(previous);
    EXPECT_EQ(text.size(), 16u);
    EXPECT_EQ(parse_queue_id(text), previous);
    EXPECT_FALSE(parse_queue_id("XYZ"));
    EXPECT_FALSE(parse_queue_id("0123456789ABCDEFG"));
    // After a restart, ids stay above everything recovered, even if the clock went back.
    QueueIdGenerator restarted(3, previous);
    EXPECT_GT(restarted.next(1'600'000'000'000), previous);
}

}  // namespace
}  // namespace relay::spool
