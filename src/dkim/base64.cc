// base64.cc -- RFC 4648 §4 base64 with padding.
//
// Untrusted bytes: decode() reads operator-supplied key text; it never reads past its input.
// Thread: any (pure).
#include "base64.h"

#include <array>

namespace relay::dkim::internal {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr auto decode_table = [] {
    std::array<std::int8_t, 256> table{};
    table.fill(-1);
    for (std::size_t index = 0; index < alphabet.size(); ++index) {
        table[static_cast<unsigned char>(alphabet[index])] = static_cast<std::int8_t>(index);
    }
    return table;
}();

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> bytes) {
    std::string text;
    text.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t index = 0;
    for (; index + 3 <= bytes.size(); index += 3) {
        const std::uint32_t group = (std::uint32_t{bytes[index]} << 16) |
                                    (std::uint32_t{bytes[index + 1]} << 8) | bytes[index + 2];
        text += alphabet[(group >> 18) & 63];
        text += alphabet[(group >> 12) & 63];
        text += alphabet[(group >> 6) & 63];
        text += alphabet[group & 63];
    }
    const std::size_t left = bytes.size() - index;
    if (left > 0) {
        std::uint32_t group = std::uint32_t{bytes[index]} << 16;
        if (left == 2) {
            group |= std::uint32_t{bytes[index + 1]} << 8;
        }
        text += alphabet[(group >> 18) & 63];
        text += alphabet[(group >> 12) & 63];
        text += left == 2 ? alphabet[(group >> 6) & 63] : '=';
        text += '=';
    }
    return text;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
    std::vector<std::uint8_t> bytes;
    bytes.reserve(text.size() / 4 * 3);
    std::uint32_t group = 0;
    int sextets = 0;
    int padding = 0;
    for (const char c : text) {
        if (is_space(c)) {
            continue;
        }
        if (c == '=') {
            ++padding;
            if (sextets + padding > 4 || sextets < 2) {
                return std::nullopt;
            }
            continue;
        }
        const std::int8_t value = decode_table[static_cast<unsigned char>(c)];
        if (value < 0 || padding > 0) {
            return std::nullopt;  // outside the alphabet, or data after padding
        }
        group = (group << 6) | static_cast<std::uint32_t>(value);
        if (++sextets == 4) {
            bytes.push_back(static_cast<std::uint8_t>(group >> 16));
            bytes.push_back(static_cast<std::uint8_t>(group >> 8));
            bytes.push_back(static_cast<std::uint8_t>(group));
            group = 0;
            sextets = 0;
        }
    }
    if (padding > 0) {
        if (sextets + padding != 4) {
            return std::nullopt;
        }
        group <<= 6 * padding;
        bytes.push_back(static_cast<std::uint8_t>(group >> 16));
        if (sextets == 3) {
            bytes.push_back(static_cast<std::uint8_t>(group >> 8));
        }
    } else if (sextets != 0) {
        return std::nullopt;
    }
    return bytes;
}

}  // namespace relay::dkim::internal
