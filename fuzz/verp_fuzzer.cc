// verp_fuzzer.cc -- libFuzzer harness for the VERP token of the bounce part.
//
// Untrusted bytes: the whole input. Two properties:
//   * the decoder never crashes, and what it accepts is a bounce address of the one shape the
//     encoder writes (the prefix, 48 base32 characters, without regard to case), verified by a
//     key it was given;
//   * the encoder's output decodes to the fields it was given (round trip), stays within the
//     64-octet local part, uses only lower-case letters and digits, and a change of any one of
//     its token characters makes it fail.
//
// Input layout: [queue id, 8][recipient index, 2][resource length][resource][recipient], the
// whole input also being tried as an address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/bounce/verp.h"

namespace {

using relay::bounce::decode_verp;
using relay::bounce::verp_local_part;
using relay::bounce::VerpMessage;

constexpr std::string_view key = "fuzzing key, 32 octets long.....";
constexpr std::string_view other_key = "another key of sixteen octets or more";

void check(bool condition) {
    if (!condition) {
        std::abort();
    }
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

void check_decoder(std::string_view input) {
    const std::string_view keys[] = {other_key, key};
    auto token = decode_verp(keys, input);
    if (!token.ok()) {
        return;
    }
    const std::string_view local_part = input.substr(0, input.rfind('@'));
    check(local_part.size() == relay::bounce::verp_prefix.size() + relay::bounce::verp_token_chars);
    for (std::size_t index = 0; index < relay::bounce::verp_prefix.size(); ++index) {
        check(lower(local_part[index]) == relay::bounce::verp_prefix[index]);
    }
    check(token->key_index < 2);
}

void check_round_trip(const std::uint8_t* data, std::size_t size) {
    if (size < 11) {
        return;
    }
    VerpMessage message;
    for (std::size_t index = 0; index < 8; ++index) {
        message.queue_id = (message.queue_id << 8) | data[index];
    }
    message.recipient_index = static_cast<std::uint32_t>(data[8] << 8 | data[9]);
    const std::string_view rest(reinterpret_cast<const char*>(data) + 11, size - 11);
    const std::size_t resource_bytes = std::min<std::size_t>(data[10], rest.size());
    message.resource = rest.substr(0, resource_bytes);
    message.recipient = rest.substr(resource_bytes);
    auto local_part = verp_local_part(key, message);
    check(local_part.ok());
    check(local_part->size() <= 64);
    for (const char c : local_part->substr(relay::bounce::verp_prefix.size())) {
        check((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'));
    }
    const std::string_view keys[] = {key};
    auto token = decode_verp(keys, *local_part + "@bounces.example");
    check(token.ok());
    check(token->queue_id == message.queue_id);
    check(token->recipient_index == message.recipient_index);
    check(token->resource_fingerprint ==
          relay::bounce::verp_resource_fingerprint(message.resource));
    check(token->recipient_fingerprint ==
          relay::bounce::verp_recipient_fingerprint(message.recipient));
    // One character changed, chosen by the input: the tag no longer verifies.
    std::string tampered = *local_part;
    const std::size_t position =
        relay::bounce::verp_prefix.size() + data[size - 1] % relay::bounce::verp_token_chars;
    tampered[position] = tampered[position] == 'a' ? 'b' : 'a';
    check(!decode_verp(keys, tampered).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    check_decoder(std::string_view(reinterpret_cast<const char*>(data), size));
    check_round_trip(data, size);
    return 0;
}
