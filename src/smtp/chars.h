// chars.h -- character classes and small scanning helpers shared by the SMTP parsers.
//
// Private to src/smtp. Pure and allocation-free: a 256-entry table of class bits, built at
// compile time, so that classifying an untrusted octet is one load and one test. Any thread.
// The classes are the ABNF terminals of RFC 5321 §4.1.2 (atext, qtextSMTP, Let-dig, dcontent,
// esmtp-value), RFC 3461 §4 (xtext) and RFC 4648 §4 (base64).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace relay::smtp::internal {

enum CharClass : std::uint16_t {
    char_alpha = 1 << 0,        // ALPHA
    char_digit = 1 << 1,        // DIGIT
    char_atext = 1 << 2,        // RFC 5322 atext (ASCII part)
    char_qtext = 1 << 3,        // RFC 5321 qtextSMTP (ASCII part)
    char_dcontent = 1 << 4,     // RFC 5321 dcontent
    char_esmtp_value = 1 << 5,  // RFC 5321 esmtp-value (ASCII part)
    char_xchar = 1 << 6,        // RFC 3461 xchar
    char_base64 = 1 << 7,       // RFC 4648 base64 alphabet, without the pad
    char_hex = 1 << 8,          // HEXDIG, either case
    char_sasl = 1 << 9,         // RFC 4422 sasl-mech characters, either case
    char_space = 1 << 10,       // SP, HTAB: what the parser treats as a separator
    char_high = 1 << 11,        // an octet >= 0x80 (part of a UTF-8 sequence, checked apart)
    char_printable = 1 << 12,   // %x21-7E
};

constexpr std::array<std::uint16_t, 256> make_char_table() {
    std::array<std::uint16_t, 256> table{};
    for (int c = 0; c < 256; ++c) {
        std::uint16_t bits = 0;
        const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        const bool digit = c >= '0' && c <= '9';
        const std::string_view atext_specials = "!#$%&'*+-/=?^_`{|}~";
        bits |= alpha ? char_alpha : 0;
        bits |= digit ? char_digit : 0;
        if (alpha || digit || atext_specials.find(static_cast<char>(c)) != std::string_view::npos) {
            bits |= char_atext;
        }
        if (c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126)) {
            bits |= char_qtext;
        }
        if ((c >= 33 && c <= 90) || (c >= 94 && c <= 126)) {
            bits |= char_dcontent;
        }
        if ((c >= 33 && c <= 60) || (c >= 62 && c <= 126)) {
            bits |= char_esmtp_value;
        }
        if (c >= 33 && c <= 126 && c != '+' && c != '=') {
            bits |= char_xchar;
        }
        if (alpha || digit || c == '+' || c == '/') {
            bits |= char_base64;
        }
        if (digit || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')) {
            bits |= char_hex;
        }
        if (alpha || digit || c == '-' || c == '_') {
            bits |= char_sasl;
        }
        bits |= (c == ' ' || c == '\t') ? char_space : 0;
        bits |= c >= 0x80 ? char_high : 0;
        bits |= (c >= 0x21 && c <= 0x7e) ? char_printable : 0;
        table[static_cast<std::size_t>(c)] = bits;
    }
    return table;
}

inline constexpr std::array<std::uint16_t, 256> char_table = make_char_table();

inline bool is(char c, std::uint16_t classes) {
    return (char_table[static_cast<unsigned char>(c)] & classes) != 0;
}

inline bool is_space(char c) {
    return is(c, char_space);
}
inline bool is_let_dig(char c) {
    return is(c, char_alpha | char_digit);
}
inline bool is_digit(char c) {
    return is(c, char_digit);
}

inline std::string_view trim_spaces(std::string_view text) {
    std::size_t begin = 0;
    while (begin < text.size() && is_space(text[begin])) {
        ++begin;
    }
    std::size_t end = text.size();
    while (end > begin && is_space(text[end - 1])) {
        --end;
    }
    return text.substr(begin, end - begin);
}

inline std::string_view skip_spaces(std::string_view text) {
    std::size_t begin = 0;
    while (begin < text.size() && is_space(text[begin])) {
        ++begin;
    }
    return text.substr(begin);
}

// Splits off the first space-separated word; `rest` starts at the next word (spaces skipped).
struct WordSplit {
    std::string_view word;
    std::string_view rest;
};

inline WordSplit split_word(std::string_view text) {
    std::size_t end = 0;
    while (end < text.size() && !is_space(text[end])) {
        ++end;
    }
    return {text.substr(0, end), skip_spaces(text.substr(end))};
}

// True if any octet has the high bit set. Eight octets at a time: the common case is ASCII.
bool has_high_octet(std::string_view bytes);

}  // namespace relay::smtp::internal
