// verp.cc -- VERP tokens: fixed fields, HMAC-SHA256 tag, base32 (see verp.h for the layout).
//
// Untrusted bytes: decode_verp reads bounce addresses from the internet. Thread: any (pure).
// Standards: RFC 4648 §6 (base32, here in lower case and without padding: 30 octets are exactly
// 48 characters), RFC 2104 (HMAC), RFC 5321 §4.5.3.1.1 (64-octet local part).
// Never: read outside the given views; let the comparison time depend on the tag.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>
// clang-format on

#include "relay/bounce/verp.h"

#include <algorithm>
#include <array>

#include "relay/base/ascii.h"

namespace relay::bounce {
namespace {

constexpr std::size_t token_bytes = 30;
constexpr std::size_t tagged_bytes = 22;  // octets 0-21 are what the tag covers
constexpr std::size_t tag_bytes = token_bytes - tagged_bytes;
constexpr std::uint8_t version = 1;
constexpr std::string_view tag_context = "relay-verp-1";
constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz234567";
static_assert(token_bytes * 8 == verp_token_chars * 5, "the token is whole base32 groups");
static_assert(verp_prefix.size() + verp_token_chars <= 64, "RFC 5321 local-part limit");

using TokenBytes = std::array<std::uint8_t, token_bytes>;

Error token_error(std::string message) {
    return make_error(ErrorCode::invalid_argument, Blame::peer, std::move(message));
}

void put_big_endian(std::uint8_t* out, std::uint64_t value, std::size_t bytes) {
    for (std::size_t index = 0; index < bytes; ++index) {
        out[bytes - 1 - index] = static_cast<std::uint8_t>(value >> (8 * index));
    }
}

std::uint64_t get_big_endian(const std::uint8_t* in, std::size_t bytes) {
    std::uint64_t value = 0;
    for (std::size_t index = 0; index < bytes; ++index) {
        value = (value << 8) | in[index];
    }
    return value;
}

std::uint64_t sha256_prefix(std::string_view text, std::size_t bytes) {
    std::array<std::uint8_t, WC_SHA256_DIGEST_SIZE> digest{};
    RELAY_ASSERT(wc_Sha256Hash(reinterpret_cast<const byte*>(text.data()),
                               static_cast<word32>(text.size()), digest.data()) == 0);
    return get_big_endian(digest.data(), bytes);
}

// The tag of octets 0-21; false only if wolfCrypt refuses the key.
bool compute_tag(std::string_view key, const TokenBytes& token,
                 std::array<std::uint8_t, tag_bytes>& tag) {
    Hmac hmac;
    if (wc_HmacInit(&hmac, nullptr, INVALID_DEVID) != 0) {
        return false;
    }
    std::array<std::uint8_t, WC_SHA256_DIGEST_SIZE> mac{};
    const bool made = wc_HmacSetKey(&hmac, WC_SHA256, reinterpret_cast<const byte*>(key.data()),
                                    static_cast<word32>(key.size())) == 0 &&
                      wc_HmacUpdate(&hmac, reinterpret_cast<const byte*>(tag_context.data()),
                                    static_cast<word32>(tag_context.size())) == 0 &&
                      wc_HmacUpdate(&hmac, token.data(), tagged_bytes) == 0 &&
                      wc_HmacFinal(&hmac, mac.data()) == 0;
    wc_HmacFree(&hmac);
    std::copy_n(mac.begin(), tag_bytes, tag.begin());
    return made;
}

std::string base32_encode(const TokenBytes& bytes) {
    std::string text;
    text.reserve(verp_token_chars);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const std::uint8_t byte_value : bytes) {
        buffer = (buffer << 8) | byte_value;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            text += alphabet[(buffer >> bits) & 31];
        }
    }
    return text;
}

bool base32_decode(std::string_view text, TokenBytes& bytes) {
    if (text.size() != verp_token_chars) {
        return false;
    }
    std::uint32_t buffer = 0;
    int bits = 0;
    std::size_t out = 0;
    for (const char c : text) {
        const std::size_t value = alphabet.find(ascii_lower(c));
        if (value == std::string_view::npos) {
            return false;
        }
        buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            bytes[out++] = static_cast<std::uint8_t>(buffer >> bits);
        }
    }
    return out == token_bytes;
}

bool equal_in_constant_time(const std::uint8_t* left, const std::uint8_t* right, std::size_t size) {
    std::uint8_t difference = 0;
    for (std::size_t index = 0; index < size; ++index) {
        difference |= static_cast<std::uint8_t>(left[index] ^ right[index]);
    }
    return difference == 0;
}

}  // namespace

std::uint64_t verp_resource_fingerprint(std::string_view resource) {
    return sha256_prefix(resource, 6);
}

std::uint64_t verp_recipient_fingerprint(std::string_view recipient) {
    std::string lowered(recipient);
    for (char& c : lowered) {
        c = ascii_lower(c);
    }
    return sha256_prefix(lowered, 5);
}

Result<std::string> verp_local_part(std::string_view key, const VerpMessage& message) {
    if (key.size() < verp_key_bytes_min) {
        return make_error(
            ErrorCode::invalid_argument, Blame::configuration,
            "the VERP key must have at least " + std::to_string(verp_key_bytes_min) + " octets");
    }
    if (message.recipient_index > verp_recipient_index_max) {
        return make_error(ErrorCode::invalid_argument, Blame::relay,
                          "recipient index " + std::to_string(message.recipient_index) +
                              " does not fit a VERP token");
    }
    TokenBytes token{};
    token[0] = version;
    put_big_endian(&token[1], message.queue_id, 8);
    put_big_endian(&token[9], verp_resource_fingerprint(message.resource), 6);
    put_big_endian(&token[15], message.recipient_index, 2);
    put_big_endian(&token[17], verp_recipient_fingerprint(message.recipient), 5);
    std::array<std::uint8_t, tag_bytes> tag{};
    if (!compute_tag(key, token, tag)) {
        return make_error(ErrorCode::internal, Blame::relay, "HMAC-SHA256 failed");
    }
    std::copy(tag.begin(), tag.end(), token.begin() + tagged_bytes);
    return std::string(verp_prefix) + base32_encode(token);
}

Result<std::string> verp_address(std::string_view key, const VerpMessage& message,
                                 std::string_view bounce_domain) {
    auto local_part = verp_local_part(key, message);
    if (!local_part) {
        return local_part.error();
    }
    return *local_part + "@" + std::string(bounce_domain);
}

Result<VerpToken> decode_verp(std::span<const std::string_view> keys, std::string_view address) {
    const std::string_view local_part = address.substr(0, address.rfind('@'));
    if (local_part.size() < verp_prefix.size()) {
        return token_error("not a bounce address (no " + std::string(verp_prefix) + ")");
    }
    for (std::size_t index = 0; index < verp_prefix.size(); ++index) {
        if (ascii_lower(local_part[index]) != verp_prefix[index]) {
            return token_error("not a bounce address (no " + std::string(verp_prefix) + ")");
        }
    }
    TokenBytes token{};
    if (!base32_decode(local_part.substr(verp_prefix.size()), token)) {
        return token_error("the bounce token is not " + std::to_string(verp_token_chars) +
                           " base32 characters");
    }
    if (token[0] != version) {
        return token_error("unknown bounce token version " + std::to_string(token[0]));
    }
    for (std::size_t key_index = 0; key_index < keys.size(); ++key_index) {
        std::array<std::uint8_t, tag_bytes> tag{};
        if (keys[key_index].size() < verp_key_bytes_min ||
            !compute_tag(keys[key_index], token, tag)) {
            continue;
        }
        if (equal_in_constant_time(tag.data(), token.data() + tagged_bytes, tag_bytes)) {
            VerpToken decoded;
            decoded.queue_id = get_big_endian(&token[1], 8);
            decoded.resource_fingerprint = get_big_endian(&token[9], 6);
            decoded.recipient_index = static_cast<std::uint16_t>(get_big_endian(&token[15], 2));
            decoded.recipient_fingerprint = get_big_endian(&token[17], 5);
            decoded.key_index = key_index;
            return decoded;
        }
    }
    return token_error("the bounce token's tag does not verify");
}

}  // namespace relay::bounce
