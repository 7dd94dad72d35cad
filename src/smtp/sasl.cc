// sasl.cc -- base64 and the PLAIN message for SMTP AUTH.
#include "relay/smtp/sasl.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace relay::smtp {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> decoding_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& value : table) {
        value = -1;
    }
    for (std::size_t index = 0; index < alphabet.size(); ++index) {
        table[static_cast<unsigned char>(alphabet[index])] = static_cast<std::int8_t>(index);
    }
    return table;
}

constexpr std::array<std::int8_t, 256> decoding = decoding_table();

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string bytes;
    bytes.reserve(text.size() / 4 * 3);
    for (std::size_t at = 0; at < text.size(); at += 4) {
        const bool last = at + 4 == text.size();
        std::uint32_t group = 0;
        int padding = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            const char c = text[at + i];
            if (c == '=') {
                // Padding only at the end of the last group, and at most two.
                if (!last || i < 2) {
                    return std::nullopt;
                }
                ++padding;
                group <<= 6;
                continue;
            }
            const std::int8_t value = decoding[static_cast<unsigned char>(c)];
            if (value < 0 || padding > 0) {
                return std::nullopt;  // not base64, or data after padding
            }
            group = (group << 6) | static_cast<std::uint32_t>(value);
        }
        // Bits the padding leaves over must be zero (RFC 4648 §3.5): one encoding per value.
        if ((padding == 1 && (group & 0xFF) != 0) || (padding == 2 && (group & 0xFFFF) != 0)) {
            return std::nullopt;
        }
        bytes.push_back(static_cast<char>(group >> 16));
        if (padding < 2) {
            bytes.push_back(static_cast<char>((group >> 8) & 0xFF));
        }
        if (padding < 1) {
            bytes.push_back(static_cast<char>(group & 0xFF));
        }
    }
    return bytes;
}

std::string encode_base64(std::string_view bytes) {
    std::string text;
    text.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t at = 0; at < bytes.size(); at += 3) {
        const std::size_t count = std::min<std::size_t>(3, bytes.size() - at);
        std::uint32_t group = 0;
        for (std::size_t i = 0; i < 3; ++i) {
            group = (group << 8) |
                    (i < count ? static_cast<unsigned char>(bytes[at + i]) : std::uint32_t{0});
        }
        for (std::size_t i = 0; i < 4; ++i) {
            text.push_back(i <= count ? alphabet[(group >> (18 - 6 * i)) & 63] : '=');
        }
    }
    return text;
}

PlainResult parse_plain(std::string_view message) {
    const std::size_t first = message.find('\0');
    if (first == std::string_view::npos) {
        return {std::nullopt, PlainError::malformed};
    }
    const std::size_t second = message.find('\0', first + 1);
    if (second == std::string_view::npos || message.find('\0', second + 1) != message.npos) {
        return {std::nullopt, PlainError::malformed};
    }
    std::string_view authorization = message.substr(0, first);
    std::string_view username = message.substr(first + 1, second - first - 1);
    std::string_view password = message.substr(second + 1);
    if (username.empty() || password.empty()) {
        return {std::nullopt, PlainError::empty_field};
    }
    if (!authorization.empty() && authorization != username) {
        return {std::nullopt, PlainError::authorization_identity};
    }
    return {Credentials{std::string(username), std::string(password)}, PlainError::malformed};
}

void wipe(std::string& secret) {
    volatile char* bytes = secret.data();
    for (std::size_t i = 0; i < secret.size(); ++i) {
        bytes[i] = 0;
    }
    secret.clear();
}

void wipe(Credentials& credentials) {
    wipe(credentials.username);
    wipe(credentials.password);
}

}  // namespace relay::smtp
