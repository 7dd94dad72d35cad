// header_block.cc -- the index of the header block's fields, and reading fields back from it.
//
// Untrusted bytes: the header block is what the client sent (bounded by header_bytes_max).
// Thread: the session's worker (indexing, inside the message pass); any thread may read a
// finished HeaderBlock.
// Standards: RFC 5322 §2.2 (field = name ":" body, names of printable ASCII except ":"), §2.2.3
// (folding), §4.5 (obsolete whitespace before the colon).
// Never: allocate per line beyond the amortised growth of `fields`; read past a field.
#include <algorithm>
#include <cstring>

#include "relay/base/ascii.h"
#include "relay/base/assert.h"
#include "relay/message/message_pass.h"

namespace relay::message {
namespace {

bool is_whitespace(char octet) {
    return octet == ' ' || octet == '\t';
}

// The length of the field name on a field's first line, 0 if the line has no well-formed name.
std::uint32_t name_bytes_of(std::string_view line) {
    if (line.empty() || is_whitespace(line.front())) {
        return 0;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        return 0;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && is_whitespace(name.back())) {
        name.remove_suffix(1);
    }
    for (const char octet : name) {
        const auto value = static_cast<unsigned char>(octet);
        if (value < 33 || value > 126) {
            return 0;
        }
    }
    return static_cast<std::uint32_t>(name.size());
}

}  // namespace

// One line [begin, end) of headers_.bytes: a continuation of the open field when it starts with
// whitespace, else a new field (a malformed one gets name_bytes 0 but is still indexed, so that
// `fields` covers every byte of the block before the empty line).
void MessagePass::index_header_line(std::uint32_t begin, std::uint32_t end) {
    RELAY_ASSERT(begin < end && end <= headers_.bytes.size());
    const std::string_view line(headers_.bytes.data() + begin, end - begin);
    if (is_whitespace(line.front()) && !headers_.fields.empty()) {
        HeaderField& field = headers_.fields.back();
        field.field_bytes = end - field.offset;
        return;
    }
    headers_.fields.push_back(HeaderField{begin, name_bytes_of(line), end - begin});
}

std::string_view HeaderBlock::raw_field(std::size_t index) const {
    if (index >= fields.size() || fields[index].name_bytes == 0) {
        return {};
    }
    const HeaderField& field = fields[index];
    std::string_view value(bytes.data() + field.offset, field.field_bytes);
    value.remove_prefix(value.find(':', field.name_bytes) + 1);
    // Leading whitespace, folding included: CRLF counts only when whitespace follows it.
    while (!value.empty()) {
        if (is_whitespace(value.front())) {
            value.remove_prefix(1);
        } else if (value.size() >= 3 && value.starts_with("\r\n") && is_whitespace(value[2])) {
            value.remove_prefix(3);
        } else {
            break;
        }
    }
    if (value.ends_with("\r\n")) {
        value.remove_suffix(2);
    } else if (value.ends_with('\r')) {
        value.remove_suffix(1);  // a block cut short between CR and LF
    }
    return value;
}

std::string HeaderBlock::unfolded_field(std::size_t index) const {
    const std::string_view raw = raw_field(index);
    std::string value;
    value.reserve(raw.size());
    std::size_t position = 0;
    // Inside a field every CRLF is followed by whitespace: that is what folded it in.
    while (position < raw.size()) {
        const std::size_t crlf = raw.find("\r\n", position);
        if (crlf == std::string_view::npos) {
            value.append(raw.substr(position));
            break;
        }
        value.append(raw.substr(position, crlf - position));
        position = crlf + 2;
    }
    return value;
}

const HeaderField* HeaderBlock::find(std::string_view name) const {
    for (const HeaderField& field : fields) {
        if (field.name_bytes != 0 &&
            equal_ignoring_case(std::string_view(bytes.data() + field.offset, field.name_bytes),
                                name)) {
            return &field;
        }
    }
    return nullptr;
}

}  // namespace relay::message
