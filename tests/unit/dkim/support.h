// support.h -- helpers for the dkim tests: SHA-256 and base64 from wolfCrypt itself (not the
// part's own encoder), and reference canonicalizations written straight from RFC 6376's text.
//
// Test code only.
#pragma once

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>
// clang-format on

#include <string>
#include <string_view>
#include <vector>

#include "relay/dkim/body_hash.h"

namespace relay::dkim::test_support {

inline Sha256Digest sha256(std::string_view bytes) {
    Sha256Digest digest{};
    wc_Sha256Hash(reinterpret_cast<const byte*>(bytes.data()), static_cast<word32>(bytes.size()),
                  digest.data());
    return digest;
}

inline std::string base64(const std::uint8_t* data, std::size_t size) {
    std::string text(size * 2 + 8, '\0');
    word32 length = static_cast<word32>(text.size());
    Base64_Encode_NoNl(data, static_cast<word32>(size), reinterpret_cast<byte*>(text.data()),
                       &length);
    text.resize(length);
    return text;
}

inline std::string base64(const Sha256Digest& digest) {
    return base64(digest.data(), digest.size());
}

inline std::vector<std::uint8_t> unbase64(std::string_view text) {
    std::vector<std::uint8_t> bytes(text.size());
    word32 length = static_cast<word32>(bytes.size());
    Base64_Decode(reinterpret_cast<const byte*>(text.data()), static_cast<word32>(text.size()),
                  bytes.data(), &length);
    bytes.resize(length);
    return bytes;
}

// RFC 6376 §3.4.3: trailing empty lines go; the body ends with exactly one CRLF (added to a
// body without one, and an empty body is CRLF).
inline std::string reference_simple(std::string body) {
    while (body.size() >= 2 && body.compare(body.size() - 2, 2, "\r\n") == 0) {
        body.resize(body.size() - 2);
    }
    return body + "\r\n";
}

// RFC 6376 §3.4.4, line by line: runs of SP/HTAB become one SP, whitespace at the end of a line
// goes, trailing empty lines go, the last line ends with CRLF; an empty result stays empty.
inline std::string reference_relaxed(std::string_view body) {
    std::vector<std::string> lines;
    std::size_t position = 0;
    while (true) {
        const std::size_t end = body.find("\r\n", position);
        const std::string_view raw = body.substr(
            position, end == std::string_view::npos ? std::string_view::npos : end - position);
        std::string line;
        bool in_run = false;
        for (const char c : raw) {
            if (c == ' ' || c == '\t') {
                in_run = true;
                continue;
            }
            if (in_run) {
                line += ' ';
                in_run = false;
            }
            line += c;
        }
        lines.push_back(line);
        if (end == std::string_view::npos) {
            break;
        }
        position = end + 2;
    }
    while (!lines.empty() && lines.back().empty()) {
        lines.pop_back();
    }
    std::string canonical;
    for (const std::string& line : lines) {
        canonical += line;
        canonical += "\r\n";
    }
    return canonical;
}

inline std::string reference(Canonicalization canonicalization, std::string_view body) {
    return canonicalization == Canonicalization::simple ? reference_simple(std::string(body))
                                                        : reference_relaxed(body);
}

}  // namespace relay::dkim::test_support
