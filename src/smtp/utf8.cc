// utf8.cc -- UTF-8 well-formedness for SMTPUTF8 addresses (RFC 3629 §4, RFC 6531 §3.3).
//
// Untrusted bytes; pure, any thread, no allocation. A sequence is accepted only in its
// shortest form, never as a UTF-16 surrogate (U+D800..U+DFFF) and never above U+10FFFF: those
// are the forms that let one address be spelled two ways, which a stop list or a sender check
// keyed on octets would miss.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "chars.h"
#include "relay/smtp/command.h"

namespace relay::smtp {
namespace internal {

bool has_high_octet(std::string_view bytes) {
    constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
    std::size_t index = 0;
    for (; index + 8 <= bytes.size(); index += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, bytes.data() + index, sizeof word);
        if ((word & high_bits) != 0) {
            return true;
        }
    }
    for (; index < bytes.size(); ++index) {
        if (static_cast<unsigned char>(bytes[index]) >= 0x80) {
            return true;
        }
    }
    return false;
}

}  // namespace internal

namespace {

bool is_continuation(unsigned char octet) {
    return (octet & 0xC0) == 0x80;
}

// Length of the well-formed sequence starting at `index`, or 0 if it is not well formed.
// The ranges of the second octet are RFC 3629's UTF8-2/3/4 productions.
std::size_t sequence_length(std::string_view bytes, std::size_t index) {
    const auto lead = static_cast<unsigned char>(bytes[index]);
    const std::size_t left = bytes.size() - index;
    auto at = [&](std::size_t offset) { return static_cast<unsigned char>(bytes[index + offset]); };
    if (lead >= 0xC2 && lead <= 0xDF) {
        return left >= 2 && is_continuation(at(1)) ? 2 : 0;
    }
    if (lead >= 0xE0 && lead <= 0xEF) {
        if (left < 3 || !is_continuation(at(1)) || !is_continuation(at(2))) {
            return 0;
        }
        if ((lead == 0xE0 && at(1) < 0xA0) || (lead == 0xED && at(1) > 0x9F)) {
            return 0;  // overlong, or a surrogate
        }
        return 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        if (left < 4 || !is_continuation(at(1)) || !is_continuation(at(2)) ||
            !is_continuation(at(3))) {
            return 0;
        }
        if ((lead == 0xF0 && at(1) < 0x90) || (lead == 0xF4 && at(1) > 0x8F)) {
            return 0;  // overlong, or above U+10FFFF
        }
        return 4;
    }
    return 0;  // a stray continuation octet, C0/C1 (always overlong), or F5..FF
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) {
    std::size_t index = 0;
    while (index < bytes.size()) {
        if (static_cast<unsigned char>(bytes[index]) < 0x80) {
            ++index;
            continue;
        }
        const std::size_t length = sequence_length(bytes, index);
        if (length == 0) {
            return false;
        }
        index += length;
    }
    return true;
}

}  // namespace relay::smtp
