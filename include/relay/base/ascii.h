// ascii.h -- case folding of the ASCII letters, as the mail protocols compare names.
//
// SMTP verbs, header field names, MIME types and parameters, DNS names and DKIM tags compare
// without regard to the case of A-Z only. std::tolower would follow the process's locale; these
// fold nothing but A-Z and leave UTF-8 octets alone.
#pragma once

#include <string>
#include <string_view>

namespace relay {

constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) {
        c = ascii_lower(c);
    }
    return lower;
}

constexpr bool equal_ignoring_case(std::string_view left, std::string_view right) {
    if (left.size() != right.size()) {
        return false;
    }
    for (std::size_t index = 0; index < left.size(); ++index) {
        if (ascii_lower(left[index]) != ascii_lower(right[index])) {
            return false;
        }
    }
    return true;
}

constexpr bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() &&
           equal_ignoring_case(text.substr(0, prefix.size()), prefix);
}

}  // namespace relay
