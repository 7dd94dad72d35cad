// headers.cc -- header fields for DKIM: splitting, canonical forms, choosing, hashing.
//
// Untrusted bytes: the header block as received; any input gives some output, never a crash.
// Thread: any (pure). Standards: RFC 6376 §3.4.1, §3.4.2, §3.7, §5.4, §5.4.2, §8.15.
// Never: read outside the given views.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>
// clang-format on

#include "relay/dkim/headers.h"

#include <array>

#include "relay/base/ascii.h"
#include "relay/base/assert.h"

namespace relay::dkim {
namespace {

bool is_whitespace(char c) {
    return c == ' ' || c == '\t';
}

// The fields of RFC 6376 §5.4.1's list that a sending service sets, plus the List-Unsubscribe
// pair of RFC 8058 §4, which must be signed for one-click unsubscription to be honoured.
constexpr std::array<std::string_view, 14> signed_names = {"from",
                                                           "to",
                                                           "cc",
                                                           "subject",
                                                           "date",
                                                           "message-id",
                                                           "mime-version",
                                                           "content-type",
                                                           "content-transfer-encoding",
                                                           "reply-to",
                                                           "in-reply-to",
                                                           "references",
                                                           "list-unsubscribe",
                                                           "list-unsubscribe-post"};
constexpr std::array<std::string_view, 1> oversigned_names = {"from"};

}  // namespace

std::vector<std::string_view> split_header_fields(std::string_view header_block) {
    std::vector<std::string_view> fields;
    std::size_t field_begin = std::string_view::npos;
    std::size_t position = 0;
    while (position < header_block.size()) {
        std::size_t line_end = header_block.find("\r\n", position);
        line_end = line_end == std::string_view::npos ? header_block.size() : line_end + 2;
        const std::string_view line = header_block.substr(position, line_end - position);
        if (line == "\r\n") {
            break;  // the empty line ending the header block
        }
        if (!is_whitespace(line.front())) {
            if (field_begin != std::string_view::npos) {
                fields.push_back(header_block.substr(field_begin, position - field_begin));
            }
            field_begin = position;
        }
        position = line_end;
    }
    if (field_begin != std::string_view::npos) {
        fields.push_back(header_block.substr(field_begin, position - field_begin));
    }
    return fields;
}

std::string_view field_name(std::string_view field) {
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) {
        return {};
    }
    std::string_view name = field.substr(0, colon);
    while (!name.empty() && is_whitespace(name.back())) {
        name.remove_suffix(1);
    }
    return name;
}

void append_canonical_field(std::string& out, std::string_view field,
                            Canonicalization canonicalization) {
    if (canonicalization == Canonicalization::simple) {
        out += field;
        if (field.size() < 2 || field.substr(field.size() - 2) != "\r\n") {
            out += "\r\n";
        }
        return;
    }
    const std::size_t colon = field.find(':');
    const std::string_view name = field_name(field);
    for (const char c : name) {
        out += ascii_lower(c);
    }
    out += ':';
    const std::string_view value =
        colon == std::string_view::npos ? field : field.substr(colon + 1);
    bool space_held = false;
    bool value_started = false;
    for (std::size_t index = 0; index < value.size(); ++index) {
        const char c = value[index];
        if (c == '\r' && index + 1 < value.size() && value[index + 1] == '\n') {
            ++index;  // unfolding: a CRLF goes, the whitespace after it is a run like any other
            continue;
        }
        if (is_whitespace(c)) {
            space_held = value_started;
            continue;
        }
        if (space_held) {
            out += ' ';
            space_held = false;
        }
        out += c;
        value_started = true;
    }
    out += "\r\n";
}

std::span<const std::string_view> default_signed_field_names() {
    return signed_names;
}
std::span<const std::string_view> default_oversigned_field_names() {
    return oversigned_names;
}

std::vector<std::string> choose_signed_fields(std::span<const std::string_view> fields,
                                              std::span<const std::string_view> wanted,
                                              std::span<const std::string_view> oversigned) {
    std::vector<std::string> names;
    for (const std::string_view name : wanted) {
        const std::string lower_name = ascii_lower(name);
        std::size_t count = 0;
        for (const std::string_view field : fields) {
            count += equal_ignoring_case(field_name(field), name) ? 1 : 0;
        }
        for (const std::string_view extra : oversigned) {
            count += equal_ignoring_case(extra, name) ? 1 : 0;
        }
        for (std::size_t index = 0; index < count; ++index) {
            names.push_back(lower_name);
        }
    }
    return names;
}

Sha256Digest signed_headers_hash(std::span<const std::string_view> fields,
                                 std::span<const std::string> names,
                                 std::string_view signature_field_without_b,
                                 Canonicalization canonicalization) {
    std::string data;
    std::vector<bool> taken(fields.size(), false);
    for (const std::string& name : names) {
        for (std::size_t index = fields.size(); index-- > 0;) {
            if (!taken[index] && equal_ignoring_case(field_name(fields[index]), name)) {
                taken[index] = true;
                append_canonical_field(data, fields[index], canonicalization);
                break;
            }
        }
    }
    if (canonicalization == Canonicalization::simple) {
        data += signature_field_without_b;
    } else {
        append_canonical_field(data, signature_field_without_b, canonicalization);
        data.resize(data.size() - 2);  // §3.7: the signature field is hashed without its CRLF
    }
    Sha256Digest digest{};
    RELAY_ASSERT(wc_Sha256Hash(reinterpret_cast<const byte*>(data.data()),
                               static_cast<word32>(data.size()), digest.data()) == 0);
    return digest;
}

}  // namespace relay::dkim
