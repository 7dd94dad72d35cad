// mime_scanner.cc -- following the MIME structure of a message as its bytes go by, and refusing
// declared charsets other than UTF-8 and US-ASCII.
//
// Untrusted bytes: everything here reads what a client sent; any input yields a verdict.
// Thread: the worker that owns the session; one scanner per message pass, never shared.
// Standards: RFC 2045 §5.1 (Content-Type syntax), RFC 2046 §5.1.1 (boundaries, the close
// delimiter, transport padding), §5.1.5 (multipart/digest parts default to message/rfc822),
// RFC 2047 §2 (encoded-words), RFC 2231 §3-4 (parameter continuations and charsets), RFC 5322
// §2.2.3 (folding), §3.2.2 (comments), RFC 6532 §3.7 (message/global), RFC 3501 §6.4.5 (part
// numbers).
// Never: allocate per byte or per body line, keep more than one header field of a part, look at
// body lines other than those that start with '-' while a boundary is open.
//
// Two modes. In header mode every line is kept in `field_` until the field ends (the next line
// does not start with whitespace), then the field is checked: encoded-words in any field, the
// charset and structure in Content-Type, RFC 2231 charsets in Content-Disposition. A field is
// judged at the first octet of the line after it, so the verdict is the same however the
// message was split into pieces. In body mode only lines that start with '-' can matter (a
// boundary); memchr finds the '-' octets, and base64 has none.
#include "relay/message/mime_scanner.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "relay/base/ascii.h"
#include "relay/base/assert.h"

namespace relay::message {
namespace {

constexpr std::size_t kCandidateBytesMax = 2 + kBoundaryBytesMax + 2;
constexpr std::size_t kReportedBytesMax = 64;
constexpr std::size_t kSectionsMax = 16;  // RFC 2231 continuations of the charset parameter

bool is_blank(char octet) {
    return octet == ' ' || octet == '\t' || octet == '\r' || octet == '\n';
}

// RFC 2045 §5.1 token octets: printable ASCII except SPACE and tspecials. A table: the
// parameter reader asks once per octet of every Content-Type.
constexpr std::array<bool, 256> make_token_table() {
    std::array<bool, 256> table{};
    for (unsigned octet = 0x21; octet < 0x7F; ++octet) {
        table[octet] = true;
    }
    for (const char special : std::string_view("()<>@,;:\\\"/[]?=")) {
        table[static_cast<unsigned char>(special)] = false;
    }
    return table;
}
constexpr std::array<bool, 256> kTokenOctets = make_token_table();

bool is_token(char octet) {
    return kTokenOctets[static_cast<unsigned char>(octet)];
}

// What goes into a reply: printable ASCII, bounded.
std::string reportable(std::string_view text) {
    std::string out;
    for (const char octet : text.substr(0, kReportedBytesMax)) {
        const auto value = static_cast<unsigned char>(octet);
        out.push_back(value > 0x20 && value < 0x7F ? octet : '?');
    }
    return out;
}

// Reads a structured field value (RFC 2045 §5.1): tokens, quoted strings, comments, folding.
class Reader {
  public:
    explicit Reader(std::string_view text) : text_(text) {}

    bool done() {
        skip_cfws();
        return position_ >= text_.size();
    }
    bool take(char octet) {
        skip_cfws();
        if (position_ < text_.size() && text_[position_] == octet) {
            ++position_;
            return true;
        }
        return false;
    }
    std::string_view token() {
        skip_cfws();
        const std::size_t begin = position_;
        while (position_ < text_.size() && is_token(text_[position_])) {
            ++position_;
        }
        return text_.substr(begin, position_ - begin);
    }
    // A quoted string (its quoted-pairs resolved into `out`), or else everything up to the next
    // ';', blank or comment: senders put '=' and '/' in unquoted boundaries, and readers take
    // them.
    void value(std::string& out) {
        out.clear();
        skip_cfws();
        if (position_ >= text_.size() || text_[position_] != '"') {
            const std::size_t begin = position_;
            while (position_ < text_.size() && text_[position_] != ';' && text_[position_] != '(' &&
                   !is_blank(text_[position_])) {
                ++position_;
            }
            out = text_.substr(begin, position_ - begin);
            return;
        }
        ++position_;
        while (position_ < text_.size() && text_[position_] != '"') {
            if (text_[position_] == '\\' && position_ + 1 < text_.size()) {
                ++position_;
            }
            if (text_[position_] != '\r' && text_[position_] != '\n') {
                out.push_back(text_[position_]);
            }
            ++position_;
        }
        position_ = std::min(position_ + 1, text_.size());
    }
    // Skips to just after the next ';' outside quotes and comments (error recovery).
    void skip_parameter() {
        bool quoted = false;
        while (position_ < text_.size()) {
            const char octet = text_[position_++];
            if (octet == '\\' && quoted) {
                ++position_;
            } else if (octet == '"') {
                quoted = !quoted;
            } else if (octet == ';' && !quoted) {
                --position_;
                return;
            }
        }
        position_ = std::min(position_, text_.size());
    }

  private:
    // Whitespace, folding and (nested) comments. Iterative: the depth is a counter.
    void skip_cfws() {
        std::size_t depth = 0;
        while (position_ < text_.size()) {
            const char octet = text_[position_];
            if (depth > 0 && octet == '\\') {
                position_ += 2;
                continue;
            }
            if (octet == '(') {
                ++depth;
            } else if (octet == ')' && depth > 0) {
                --depth;
            } else if (depth == 0 && !is_blank(octet)) {
                return;
            }
            ++position_;
        }
        position_ = std::min(position_, text_.size());
    }

    std::string_view text_;
    std::size_t position_ = 0;
};

int hex_value(char octet) {
    if (octet >= '0' && octet <= '9') {
        return octet - '0';
    }
    const char folded = ascii_lower(octet);
    return folded >= 'a' && folded <= 'f' ? folded - 'a' + 10 : -1;
}

// RFC 2231 §4: %XX escapes of an extended value.
std::string percent_decoded(std::string_view text) {
    std::string out;
    for (std::size_t index = 0; index < text.size(); ++index) {
        if (text[index] == '%' && index + 2 < text.size() && hex_value(text[index + 1]) >= 0 &&
            hex_value(text[index + 2]) >= 0) {
            out.push_back(
                static_cast<char>(hex_value(text[index + 1]) * 16 + hex_value(text[index + 2])));
            index += 2;
        } else {
            out.push_back(text[index]);
        }
    }
    return out;
}

// A parameter name split as RFC 2231 §3-4 does: "name", "name*" (extended), "name*N",
// "name*N*". `section` is -1 without a section number.
struct ParameterName {
    std::string_view base;
    int section = -1;
    bool extended = false;
};

ParameterName split_name(std::string_view name) {
    ParameterName out{name, -1, false};
    if (name.ends_with('*')) {
        out.extended = true;
        name.remove_suffix(1);
        out.base = name;
    }
    const std::size_t star = name.find('*');
    if (star == std::string_view::npos) {
        return out;
    }
    out.base = name.substr(0, star);
    int section = 0;
    for (const char octet : name.substr(star + 1)) {
        if (octet < '0' || octet > '9' || section > 9999) {
            return ParameterName{name, -1, out.extended};  // not a section: an odd name
        }
        section = section * 10 + (octet - '0');
    }
    out.section = section;
    return out;
}

}  // namespace

bool is_accepted_charset(std::string_view charset) {
    static constexpr std::string_view accepted[] = {
        "utf-8",  "utf8",      "csutf8",         "us-ascii",         "ascii",
        "us",     "iso646-us", "ansi_x3.4-1968", "ansi_x3.4-1986",   "iso-ir-6",
        "ibm367", "cp367",     "csascii",        "iso_646.irv:1991",
    };
    return std::ranges::any_of(
        accepted, [&](std::string_view name) { return equal_ignoring_case(name, charset); });
}

MimeScanner::MimeScanner(const MimeLimits& limits) : limits_(limits) {
    RELAY_ASSERT(limits_.depth_max >= 1);
    path_.resize(static_cast<std::size_t>(limits_.depth_max) + 2);
    levels_.reserve(limits_.depth_max);
    candidate_.reserve(kCandidateBytesMax);
    start();
}

void MimeScanner::start() {
    refusal_ = MimeRefusal{};
    mode_ = Mode::header;
    at_line_start_ = true;
    field_.clear();
    line_offset_ = 0;
    in_candidate_ = false;
    candidate_tail_blank_ = true;
    candidate_.clear();
    entity_depth_ = 0;
    entity_is_message_ = true;
    entity_multipart_ = false;
    entity_digest_ = false;
    entity_message_ = false;
    entity_type_seen_ = false;
    default_message_ = false;
    entity_boundary_.clear();
    levels_.clear();
    boundaries_.clear();
}

MimeScanner::Fed MimeScanner::feed(std::string_view bytes) {
    if (refusal_.verdict != MimeVerdict::accepted) {
        return Fed{0, false};
    }
    std::size_t index = 0;
    // Each turn consumes at least one byte, or refuses.
    while (index < bytes.size()) {
        index = mode_ == Mode::header ? feed_header(bytes.data(), bytes.size(), index)
                                      : feed_body(bytes.data(), bytes.size(), index);
        if (refusal_.verdict != MimeVerdict::accepted) {
            return Fed{index, true};
        }
    }
    return Fed{bytes.size(), false};
}

bool MimeScanner::finish() {
    if (refusal_.verdict != MimeVerdict::accepted || mode_ != Mode::header) {
        return false;
    }
    return !end_field();
}

// One line of a header block, or the part of it in these bytes. Returns where it stopped.
std::size_t MimeScanner::feed_header(const char* data, std::size_t size, std::size_t index) {
    if (at_line_start_) {
        at_line_start_ = false;
        if (data[index] != ' ' && data[index] != '\t' && !end_field()) {
            return index;  // the field that just ended is refused; this octet is not taken
        }
        line_offset_ = field_.size();
    }
    const void* found = std::memchr(data + index, '\n', size - index);
    const std::size_t stop =
        found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - data) + 1
                         : size;
    const std::size_t room =
        limits_.field_bytes_max - std::min<std::size_t>(field_.size(), limits_.field_bytes_max);
    if (stop - index > room) {
        refuse(MimeVerdict::field_too_large, {}, location());
        return index + room;
    }
    field_.append(data + index, stop - index);
    if (found == nullptr) {
        return stop;
    }
    at_line_start_ = true;
    end_header_line();
    return stop;
}

// A header line ended (its LF is in field_): a boundary, the end of the block, or neither.
bool MimeScanner::end_header_line() {
    std::string_view line(field_);
    line.remove_prefix(line_offset_);
    line.remove_suffix(1);  // the LF
    if (line.ends_with('\r')) {
        line.remove_suffix(1);
    }
    if (line.empty()) {
        field_.clear();
        return end_header_block();
    }
    if (line_offset_ == 0 && !levels_.empty() && line.starts_with("--")) {
        bool close = false;
        const int level = match_boundary(line, true, close);
        if (level >= 0) {  // a part may end before its header block does
            field_.clear();
            return apply_boundary(static_cast<std::size_t>(level), close);
        }
    }
    return true;
}

// The empty line after an entity's header: its body follows.
bool MimeScanner::end_header_block() {
    if (entity_multipart_ && !entity_boundary_.empty()) {
        Level level;
        level.boundary_offset = static_cast<std::uint32_t>(boundaries_.size());
        level.boundary_bytes = static_cast<std::uint32_t>(entity_boundary_.size());
        level.path_depth = entity_depth_;
        level.digest = entity_digest_;
        boundaries_.append(entity_boundary_);
        levels_.push_back(level);
        mode_ = Mode::body;
        return true;
    }
    if (entity_message_ || (!entity_type_seen_ && default_message_)) {
        // An embedded message: its header block comes next. The body of a message that is not
        // multipart is its part N.1, so an embedded message there goes one level deeper.
        if (entity_is_message_) {
            if (entity_depth_ + 1 > limits_.depth_max) {
                return refuse(MimeVerdict::too_deep, {}, "part " + part_name(entity_depth_, true));
            }
            path_[entity_depth_] = 1;
            ++entity_depth_;
        }
        entity_is_message_ = true;
        entity_multipart_ = entity_digest_ = entity_message_ = entity_type_seen_ = false;
        default_message_ = false;
        entity_boundary_.clear();
        return true;
    }
    mode_ = Mode::body;
    return true;
}

// Body lines: only those that start with '-' can be boundaries, and only while one is open.
std::size_t MimeScanner::feed_body(const char* data, std::size_t size, std::size_t index) {
    if (levels_.empty()) {
        return size;  // no boundary can end this body: nothing after it is a header
    }
    if (in_candidate_) {
        const void* found = std::memchr(data + index, '\n', size - index);
        const std::size_t stop =
            found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - data)
                             : size;
        const std::size_t room = kCandidateBytesMax - candidate_.size();
        const std::size_t kept = std::min(room, stop - index);
        candidate_.append(data + index, kept);
        for (std::size_t tail = index + kept; tail < stop && candidate_tail_blank_; ++tail) {
            candidate_tail_blank_ = is_blank(data[tail]);
        }
        if (found == nullptr) {
            return size;
        }
        in_candidate_ = false;
        at_line_start_ = true;
        std::string_view line(candidate_);
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        end_candidate_line(line, candidate_tail_blank_);
        return stop + 1;
    }
    if (at_line_start_ && data[index] == '-') {
        in_candidate_ = true;
        candidate_.clear();
        candidate_tail_blank_ = true;
        return index;
    }
    // The next '-' right after an LF; the line start at `index` (if it is one) is not a '-'.
    const char* position = data + index + 1;
    const char* const end = data + size;
    while (position < end) {
        const void* dash = std::memchr(position, '-', static_cast<std::size_t>(end - position));
        if (dash == nullptr) {
            break;
        }
        const char* const at = static_cast<const char*>(dash);
        if (at[-1] == '\n') {
            at_line_start_ = true;
            return static_cast<std::size_t>(at - data);
        }
        position = at + 1;
    }
    at_line_start_ = data[size - 1] == '\n';
    return size;
}

// A whole line that starts with '-' (without its CRLF; `tail_blank`: the octets past what was
// kept are blank).
bool MimeScanner::end_candidate_line(std::string_view line, bool tail_blank) {
    bool close = false;
    const int level = match_boundary(line, tail_blank, close);
    return level < 0 || apply_boundary(static_cast<std::size_t>(level), close);
}

// A delimiter (or close delimiter) of the multipart at levels_[index].
bool MimeScanner::apply_boundary(std::size_t index, bool close) {
    if (!close) {
        return open_part(index);
    }
    // The close delimiter: the epilogue that follows belongs to the enclosing entity's body.
    const Level ended = levels_[index];
    levels_.resize(index);
    boundaries_.resize(ended.boundary_offset);
    entity_depth_ = ended.path_depth;
    entity_is_message_ = ended.path_depth == 0;
    mode_ = Mode::body;
    return true;
}

// The innermost open boundary this line delimits (RFC 2046 §5.1.1: "--" boundary, "--" for the
// close delimiter, then transport padding), or -1. An outer boundary also ends inner multiparts.
int MimeScanner::match_boundary(std::string_view line, bool tail_blank, bool& close) const {
    if (!line.starts_with("--") || !tail_blank) {
        return -1;
    }
    line.remove_prefix(2);
    for (std::size_t level = levels_.size(); level-- > 0;) {
        const std::string_view boundary(boundaries_.data() + levels_[level].boundary_offset,
                                        levels_[level].boundary_bytes);
        if (!line.starts_with(boundary)) {
            continue;
        }
        std::string_view rest = line.substr(boundary.size());
        const bool is_close = rest.starts_with("--");
        if (is_close) {
            rest.remove_prefix(2);
        }
        if (std::ranges::all_of(rest, is_blank)) {
            close = is_close;
            return static_cast<int>(level);
        }
    }
    return -1;
}

// A delimiter line of level `level_index`: the next part of that multipart starts.
bool MimeScanner::open_part(std::size_t level_index) {
    Level& level = levels_[level_index];
    levels_.resize(level_index + 1);
    boundaries_.resize(level.boundary_offset + level.boundary_bytes);
    level.children = std::max(level.children, level.children + 1);  // saturates
    field_.clear();
    mode_ = Mode::header;
    at_line_start_ = true;
    entity_depth_ = level.path_depth;
    entity_is_message_ = false;
    entity_multipart_ = entity_digest_ = entity_message_ = entity_type_seen_ = false;
    default_message_ = level.digest;
    entity_boundary_.clear();
    if (level.path_depth + 1 > limits_.depth_max) {
        return refuse(MimeVerdict::too_deep, {}, "part " + part_name(level.path_depth, false));
    }
    path_[level.path_depth] = level.children;
    entity_depth_ = level.path_depth + 1;
    return true;
}

// The field in field_ is complete: check it and forget it.
bool MimeScanner::end_field() {
    if (field_.empty()) {
        return true;
    }
    const std::string_view field(field_);
    const std::size_t colon = field.find(':');
    bool ok = true;
    if (colon != std::string_view::npos) {
        std::string_view name = field.substr(0, colon);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
            name.remove_suffix(1);
        }
        const std::string_view value = field.substr(colon + 1);
        ok = check_encoded_words(name, value);
        if (ok && equal_ignoring_case(name, "content-type")) {
            ok = check_content_type(value);
        } else if (ok && equal_ignoring_case(name, "content-disposition")) {
            ok = check_parameters(name, value);
        }
    }
    field_.clear();
    line_offset_ = 0;
    return ok;
}

// RFC 2047 §2: "=?" charset ["*" language] "?" encoding "?" encoded-text "?=", anywhere in the
// field (decoders are lenient about where they look, so this is too).
bool MimeScanner::check_encoded_words(std::string_view name, std::string_view value) {
    std::size_t position = value.find("=?");
    while (position != std::string_view::npos) {
        const std::size_t charset_begin = position + 2;
        const std::size_t charset_end = value.find('?', charset_begin);
        if (charset_end == std::string_view::npos) {
            return true;
        }
        const std::string_view charset = value.substr(charset_begin, charset_end - charset_begin);
        const bool charset_ok = !charset.empty() && std::ranges::none_of(charset, [](char octet) {
            const auto code = static_cast<unsigned char>(octet);
            return code <= 0x20 || code >= 0x7F;
        });
        const std::size_t text_begin = charset_end + 3;
        if (charset_ok && text_begin <= value.size() &&
            std::strchr("QqBb", value[charset_end + 1]) != nullptr &&
            value[charset_end + 1] != '\0' && value[charset_end + 2] == '?') {
            const std::size_t text_end = value.find('?', text_begin);
            const std::string_view text = value.substr(
                text_begin, text_end == std::string_view::npos ? 0 : text_end - text_begin);
            const bool closed = text_end != std::string_view::npos && text_end + 1 < value.size() &&
                                value[text_end + 1] == '=';
            if (closed && std::ranges::none_of(text, is_blank)) {
                const std::string_view declared = charset.substr(0, charset.find('*'));
                if (!is_accepted_charset(declared)) {
                    return refuse(MimeVerdict::charset, declared, header_where(name));
                }
                position = value.find("=?", text_end + 2);
                continue;
            }
        }
        position = value.find("=?", position + 2);
    }
    return true;
}

// Content-Type: the type decides the structure (only the first Content-Type of an entity does,
// but the charsets of every one are checked).
bool MimeScanner::check_content_type(std::string_view value) {
    Reader reader(value);
    const std::string_view type = reader.token();
    std::string_view subtype;
    if (reader.take('/')) {
        subtype = reader.token();
    }
    const bool multipart = equal_ignoring_case(type, "multipart");
    if (!entity_type_seen_) {
        entity_type_seen_ = true;
        entity_multipart_ = multipart;
        entity_digest_ = multipart && equal_ignoring_case(subtype, "digest");
        entity_message_ =
            equal_ignoring_case(type, "message") &&
            (equal_ignoring_case(subtype, "rfc822") || equal_ignoring_case(subtype, "global"));
    }
    return check_parameters("Content-Type", value);
}

// The parameters of a Content-Type or Content-Disposition value (after its type, which a
// first token() skips): RFC 2231 charsets in extended values, and for Content-Type the charset
// and boundary parameters.
bool MimeScanner::check_parameters(std::string_view name, std::string_view value) {
    const bool content_type = equal_ignoring_case(name, "content-type");
    Reader reader(value);
    const bool multipart = content_type && equal_ignoring_case(reader.token(), "multipart");
    if (reader.take('/')) {
        reader.token();
    }
    std::string parameter_value;
    std::string charset;  // the charset parameter, its sections in order
    std::vector<std::pair<int, std::string>> sections;
    bool multipart_boundary = content_type && entity_multipart_ && entity_boundary_.empty();
    for (std::size_t parameters = 0; !reader.done() && parameters < 1024; ++parameters) {
        if (!reader.take(';')) {
            reader.skip_parameter();
            continue;
        }
        const std::string_view parameter = reader.token();
        if (parameter.empty() || !reader.take('=')) {
            continue;
        }
        reader.value(parameter_value);
        const ParameterName split = split_name(parameter);
        std::string_view text(parameter_value);
        if (split.extended && split.section <= 0) {
            // charset "'" language "'" value; the charset may be empty.
            const std::size_t quote = text.find('\'');
            if (quote != std::string_view::npos) {
                const std::string_view declared = text.substr(0, quote);
                if (!declared.empty() && !is_accepted_charset(declared)) {
                    return refuse(MimeVerdict::charset, declared, header_where(name));
                }
                const std::size_t second = text.find('\'', quote + 1);
                text.remove_prefix(second == std::string_view::npos ? quote + 1 : second + 1);
            }
        }
        if (content_type && equal_ignoring_case(split.base, "charset")) {
            std::string piece = split.extended ? percent_decoded(text) : std::string(text);
            if (split.section < 0) {
                charset = std::move(piece);
            } else if (sections.size() < kSectionsMax) {
                sections.emplace_back(split.section, std::move(piece));
            }
        } else if (multipart_boundary && split.section < 0 && !split.extended &&
                   equal_ignoring_case(split.base, "boundary")) {
            if (text.size() > kBoundaryBytesMax) {
                return refuse(MimeVerdict::boundary_too_long, {}, header_where(name));
            }
            entity_boundary_.assign(text);
            multipart_boundary = false;
        }
    }
    if (!sections.empty()) {
        std::ranges::sort(sections);
        charset.clear();
        for (const auto& section : sections) {
            charset += section.second;
        }
    }
    // A charset on a multipart means nothing (its parts declare their own).
    if (content_type && !multipart && !charset.empty() && !is_accepted_charset(charset)) {
        return refuse(MimeVerdict::charset, charset,
                      "part " + part_name(entity_depth_, entity_is_message_));
    }
    return true;
}

bool MimeScanner::refuse(MimeVerdict verdict, std::string_view charset, std::string where) {
    refusal_.verdict = verdict;
    refusal_.charset = reportable(charset);
    refusal_.where = std::move(where);
    return false;
}

// The part number of the entity whose number is path_[0, depth); `body_of_message`: of its body
// (N.1, or 1 at the top), as IMAP numbers the body of a message that is not multipart.
std::string MimeScanner::part_name(std::uint32_t depth, bool body_of_message) const {
    std::string name;
    for (std::uint32_t index = 0; index < depth; ++index) {
        if (index > 0) {
            name.push_back('.');
        }
        name += std::to_string(path_[index]);
    }
    if (body_of_message) {
        name += depth > 0 ? ".1" : "1";
    }
    return name;
}

std::string MimeScanner::header_where(std::string_view name) const {
    std::string where = "the " + reportable(name) + " header";
    if (entity_depth_ > 0) {
        where += " of part " + part_name(entity_depth_, false);
    }
    return where;
}

std::string MimeScanner::location() const {
    std::string where = mode_ == Mode::header ? "the header" : "the body";
    if (entity_depth_ > 0) {
        where += " of part " + part_name(entity_depth_, false);
    }
    return where;
}

}  // namespace relay::message
