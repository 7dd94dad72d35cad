// test_util.h -- helpers shared by the smtp unit tests: printing replies, building addresses of
// an exact length.
#pragma once

#include <algorithm>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

#include "relay/smtp/command.h"

namespace relay::smtp {

// gtest prints a failing SyntaxReply this way.
inline void PrintTo(const SyntaxReply& reply, std::ostream* out) {
    *out << reply.code << ' ' << reply.enhanced << ' ' << reply.text;
}

namespace test {

// A valid domain name of exactly `length` octets: labels of at most 63 letters, never an empty
// label or a trailing dot.
inline std::string domain_of_length(std::size_t length) {
    std::string out;
    while (out.size() < length) {
        if (!out.empty()) {
            out += '.';
        }
        const std::size_t remaining = length - out.size();
        std::size_t label = std::min<std::size_t>(63, remaining);
        if (remaining - label == 1) {
            label -= 1;  // leave room for ".x"
        }
        out.append(label, static_cast<char>('a' + out.size() % 26));
    }
    return out;
}

inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return (x | 0x20) == (y | 0x20);
           });
}

}  // namespace test
}  // namespace relay::smtp
