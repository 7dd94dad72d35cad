// mime.cc -- header blocks, content-type parameters, transfer decodings and the walk over a
// message's parts (see mime.h for what is accepted and what the limits bound).
//
// Untrusted bytes: the whole message. Any thread. The walk keeps an explicit stack of spans still
// to read; each span is split once per nesting level, so the work is at most depth_max passes over
// the input. Decoded bodies never outgrow their spans, and the spans of leaves do not overlap, so
// the memory is bounded by the input's size plus the kept header fields.
// Never: recurse, throw on input, read outside the given bytes.
#include "relay/bounce/mime.h"

#include <array>

#include "relay/base/ascii.h"

namespace relay::bounce {
namespace {

bool is_blank(char octet) {
    return octet == ' ' || octet == '\t';
}

std::string_view trim(std::string_view text) {
    while (!text.empty() &&
           (is_blank(text.front()) || text.front() == '\r' || text.front() == '\n')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (is_blank(text.back()) || text.back() == '\r' || text.back() == '\n')) {
        text.remove_suffix(1);
    }
    return text;
}

// The line that starts at `start`, without its CR LF or LF, and where the next line starts.
struct Line {
    std::string_view text;
    std::size_t next = 0;
};

Line line_at(std::string_view bytes, std::size_t start) {
    std::size_t end = bytes.find('\n', start);
    std::size_t next = end == std::string_view::npos ? bytes.size() : end + 1;
    if (end == std::string_view::npos) {
        end = bytes.size();
    }
    std::string_view text = bytes.substr(start, end - start);
    if (!text.empty() && text.back() == '\r') {
        text.remove_suffix(1);
    }
    return Line{text, next};
}

// A field name: printable ASCII other than ':' and space (RFC 5322 §3.6.8), whitespace allowed
// before the colon (obsolete syntax, §4.5).
bool is_field_line(std::string_view line, std::size_t* colon) {
    std::size_t position = line.find(':');
    if (position == std::string_view::npos || position == 0) {
        return false;
    }
    std::string_view name = line.substr(0, position);
    while (!name.empty() && is_blank(name.back())) {
        name.remove_suffix(1);
    }
    if (name.empty()) {
        return false;
    }
    for (char octet : name) {
        if (octet <= ' ' || octet >= 127) {
            return false;
        }
    }
    *colon = position;
    return true;
}

std::string_view field_name(std::string_view line, std::size_t colon) {
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && is_blank(name.back())) {
        name.remove_suffix(1);
    }
    return name;
}

// Whether `line` is the delimiter "--boundary" or the closing "--boundary--", with only
// whitespace after it (RFC 2046 §5.1.1 allows trailing whitespace).
enum class Delimiter : std::uint8_t { none, part, closing };

Delimiter delimiter_of(std::string_view line, std::string_view boundary) {
    if (line.size() < boundary.size() + 2 || line[0] != '-' || line[1] != '-' ||
        line.substr(2, boundary.size()) != boundary) {
        return Delimiter::none;
    }
    std::string_view rest = line.substr(boundary.size() + 2);
    Delimiter kind = Delimiter::part;
    if (rest.size() >= 2 && rest[0] == '-' && rest[1] == '-') {
        kind = Delimiter::closing;
        rest.remove_prefix(2);
    }
    return trim(rest).empty() ? kind : Delimiter::none;
}

// The body parts of a multipart body, at most `parts_max`; an unclosed last part runs to the end.
std::vector<std::string_view> split_multipart(std::string_view body, std::string_view boundary,
                                              std::size_t parts_max, bool* truncated) {
    std::vector<std::string_view> parts;
    std::size_t part_start = std::string_view::npos;
    std::size_t position = 0;
    while (position < body.size()) {
        Line line = line_at(body, position);
        Delimiter kind = delimiter_of(line.text, boundary);
        if (kind != Delimiter::none) {
            if (part_start != std::string_view::npos) {
                // The line break before a delimiter belongs to the delimiter.
                std::size_t end = position;
                if (end > part_start && body[end - 1] == '\n') {
                    --end;
                }
                if (end > part_start && body[end - 1] == '\r') {
                    --end;
                }
                if (parts.size() == parts_max) {
                    *truncated = true;
                    return parts;
                }
                parts.push_back(body.substr(part_start, end - part_start));
            }
            if (kind == Delimiter::closing) {
                return parts;
            }
            part_start = line.next;
        }
        position = line.next;
    }
    if (part_start != std::string_view::npos && part_start < body.size()) {
        if (parts.size() == parts_max) {
            *truncated = true;
        } else {
            parts.push_back(body.substr(part_start));
        }
    }
    return parts;
}

int base64_value(char octet) {
    if (octet >= 'A' && octet <= 'Z') {
        return octet - 'A';
    }
    if (octet >= 'a' && octet <= 'z') {
        return octet - 'a' + 26;
    }
    if (octet >= '0' && octet <= '9') {
        return octet - '0' + 52;
    }
    if (octet == '+') {
        return 62;
    }
    if (octet == '/') {
        return 63;
    }
    return -1;
}

int hex_value(char octet) {
    if (octet >= '0' && octet <= '9') {
        return octet - '0';
    }
    char lower = ascii_lower(octet);
    if (lower >= 'a' && lower <= 'f') {
        return lower - 'a' + 10;
    }
    return -1;
}

std::string decode_body(std::string_view body, std::string_view transfer_encoding) {
    std::string_view encoding = trim(transfer_encoding);
    if (equal_ignoring_case(encoding, "base64")) {
        return decode_base64(body);
    }
    if (equal_ignoring_case(encoding, "quoted-printable")) {
        return decode_quoted_printable(body);
    }
    return std::string(body);
}

}  // namespace

std::size_t find_ignoring_case(std::string_view haystack, std::string_view needle) {
    if (needle.empty()) {
        return 0;
    }
    if (haystack.size() < needle.size()) {
        return std::string_view::npos;
    }
    char first = ascii_lower(needle[0]);
    for (std::size_t index = 0; index + needle.size() <= haystack.size(); ++index) {
        if (ascii_lower(haystack[index]) == first &&
            equal_ignoring_case(haystack.substr(index, needle.size()), needle)) {
            return index;
        }
    }
    return std::string_view::npos;
}

std::string_view HeaderFields::get(std::string_view name) const {
    for (const HeaderField& field : fields) {
        if (equal_ignoring_case(field.name, name)) {
            return field.value;
        }
    }
    return {};
}

bool HeaderFields::has(std::string_view name) const {
    for (const HeaderField& field : fields) {
        if (equal_ignoring_case(field.name, name)) {
            return true;
        }
    }
    return false;
}

HeaderBlock parse_header_block(std::string_view bytes, std::size_t fields_max) {
    HeaderBlock block;
    bool keeping = false;  // whether continuation lines belong to a kept field
    std::size_t position = 0;
    while (position < bytes.size()) {
        Line line = line_at(bytes, position);
        if (line.text.empty()) {
            block.body_offset = line.next;
            break;
        }
        std::size_t colon = 0;
        if (is_blank(line.text.front()) && position > 0) {
            if (keeping) {
                block.headers.fields.back().value.append(line.text);
            }
        } else if (is_field_line(line.text, &colon)) {
            keeping = block.headers.fields.size() < fields_max;
            if (keeping) {
                block.headers.fields.push_back(
                    HeaderField{std::string(field_name(line.text, colon)),
                                std::string(line.text.substr(colon + 1))});
            } else {
                block.truncated = true;
            }
        } else if (position == 0 && line.text.starts_with("From ")) {
            keeping = false;  // an mbox separator line
        } else {
            block.body_offset = position;
            break;
        }
        position = line.next;
        block.body_offset = position;
    }
    for (HeaderField& field : block.headers.fields) {
        field.value = std::string(trim(field.value));
    }
    return block;
}

std::string media_type_of(std::string_view content_type) {
    std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    if (type.find('/') == std::string_view::npos) {
        return {};
    }
    std::string lower = ascii_lower(type);
    std::erase_if(lower, [](char octet) { return is_blank(octet) || octet == '"'; });
    return lower;
}

std::string parameter_of(std::string_view field_value, std::string_view name) {
    std::size_t position = field_value.find(';');
    while (position != std::string_view::npos && position < field_value.size()) {
        ++position;  // past ';'
        while (position < field_value.size() &&
               (is_blank(field_value[position]) || field_value[position] == '\r' ||
                field_value[position] == '\n')) {
            ++position;
        }
        std::size_t equals = field_value.find('=', position);
        std::size_t semicolon = field_value.find(';', position);
        if (equals == std::string_view::npos ||
            (semicolon != std::string_view::npos && semicolon < equals)) {
            position = semicolon;
            continue;
        }
        std::string_view parameter_name = trim(field_value.substr(position, equals - position));
        std::string value;
        position = equals + 1;
        while (position < field_value.size() && is_blank(field_value[position])) {
            ++position;
        }
        if (position < field_value.size() && field_value[position] == '"') {
            ++position;
            while (position < field_value.size() && field_value[position] != '"') {
                if (field_value[position] == '\\' && position + 1 < field_value.size()) {
                    ++position;
                }
                value.push_back(field_value[position]);
                ++position;
            }
            position = field_value.find(';', position);
        } else {
            std::size_t end = field_value.find(';', position);
            value = std::string(trim(field_value.substr(position, end == std::string_view::npos
                                                                      ? std::string_view::npos
                                                                      : end - position)));
            position = end;
        }
        if (equal_ignoring_case(parameter_name, name)) {
            return value;
        }
    }
    return {};
}

std::string decode_base64(std::string_view encoded) {
    std::string decoded;
    decoded.reserve(encoded.size() / 4 * 3 + 3);
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (char octet : encoded) {
        int value = base64_value(octet);
        if (value < 0) {
            continue;
        }
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            decoded.push_back(static_cast<char>((bits >> bit_count) & 0xFF));
        }
    }
    return decoded;
}

std::string decode_quoted_printable(std::string_view encoded) {
    std::string decoded;
    decoded.reserve(encoded.size());
    for (std::size_t index = 0; index < encoded.size(); ++index) {
        char octet = encoded[index];
        if (octet != '=') {
            decoded.push_back(octet);
            continue;
        }
        if (index + 2 < encoded.size() && hex_value(encoded[index + 1]) >= 0 &&
            hex_value(encoded[index + 2]) >= 0) {
            decoded.push_back(static_cast<char>(hex_value(encoded[index + 1]) * 16 +
                                                hex_value(encoded[index + 2])));
            index += 2;
        } else if (index + 1 < encoded.size() && encoded[index + 1] == '\n') {
            index += 1;  // a soft line break
        } else if (index + 2 < encoded.size() && encoded[index + 1] == '\r' &&
                   encoded[index + 2] == '\n') {
            index += 2;
        } else {
            decoded.push_back(octet);  // not an escape: kept as written
        }
    }
    return decoded;
}

MimeTree walk_mime(std::string_view message, const MimeLimits& limits) {
    struct Pending {
        std::string_view bytes;
        std::size_t depth = 0;
    };
    MimeTree tree;
    std::vector<Pending> pending{Pending{message, 0}};
    while (!pending.empty()) {
        Pending current = pending.back();
        pending.pop_back();
        if (tree.parts.size() >= limits.parts_max) {
            tree.truncated = true;
            break;
        }
        HeaderBlock block = parse_header_block(current.bytes, limits.header_fields_max);
        tree.truncated = tree.truncated || block.truncated;
        MimePart part;
        part.depth = current.depth;
        std::string_view content_type = block.headers.get("content-type");
        part.media_type = media_type_of(content_type);
        if (part.media_type.empty()) {
            part.media_type = "text/plain";
        }
        std::string_view body = current.bytes.substr(block.body_offset);
        std::string boundary = parameter_of(content_type, "boundary");
        if (part.media_type.starts_with("multipart/") && !boundary.empty()) {
            if (current.depth < limits.depth_max) {
                // Room for the parts already waiting too, so the stack stays within parts_max.
                std::size_t taken = tree.parts.size() + 1 + pending.size();
                std::size_t room = taken < limits.parts_max ? limits.parts_max - taken : 0;
                bool cut = false;
                std::vector<std::string_view> children =
                    split_multipart(body, boundary, room, &cut);
                tree.truncated = tree.truncated || cut;
                if (!children.empty() || cut) {
                    for (auto child = children.rbegin(); child != children.rend(); ++child) {
                        pending.push_back(Pending{*child, current.depth + 1});
                    }
                    part.headers = std::move(block.headers);
                    tree.parts.push_back(std::move(part));
                    continue;
                }
                // No delimiter at all: some gateways drop them; the body is still text.
                part.media_type = "text/plain";
            } else {
                tree.truncated = true;
            }
        }
        part.body = decode_body(body, block.headers.get("content-transfer-encoding"));
        part.headers = std::move(block.headers);
        tree.parts.push_back(std::move(part));
    }
    return tree;
}

}  // namespace relay::bounce
