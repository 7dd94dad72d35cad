// from_addresses.cc -- the domains of the From field's mailboxes (see from_addresses.h for what
// is accepted and refused, and why).
//
// Untrusted bytes: the whole field. Any thread. A lexer turns the value into tokens (atoms,
// quoted strings, domain literals, single specials), skipping CFWS and noting where it stood;
// a parser with one token of look-ahead reads the mailbox-list. Neither recurses nor backtracks:
// comment nesting is a counter. Standards: RFC 5322 §3.2-3.4, §3.6, §4.4; RFC 6532 §3.2.
// Never: allocate except for the returned domains; read outside the value.
#include "relay/message/from_addresses.h"

#include <algorithm>

#include "relay/base/ascii.h"
#include "relay/base/assert.h"

namespace relay::message {
namespace {

// A longer domain is no host name, even in UTF-8 (RFC 1035 §2.3.4: 255 octets in the wire form).
constexpr std::size_t domain_bytes_max = 1024;

enum class Kind : std::uint8_t {
    atom,     // 1*atext (UTF-8 included)
    quoted,   // a quoted string, quotes included
    literal,  // a domain literal, brackets included
    special,  // one of < > @ , : ; .
    end,
    error,  // bytes that no reading of the grammar accepts, or that parsers read differently
};

struct Token {
    Kind kind = Kind::end;
    std::string_view text;
    bool space_before = false;  // CFWS came before it
    bool has_angle = false;     // quoted: '<' or '>' inside
    bool has_special = false;   // quoted: a special other than "." or a quoted-pair inside
};

bool is_whitespace(char octet) {
    return octet == ' ' || octet == '\t';
}

bool is_atext(char octet) {
    const auto value = static_cast<unsigned char>(octet);
    if ((value >= 'a' && value <= 'z') || (value >= 'A' && value <= 'Z') ||
        (value >= '0' && value <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(octet) != std::string_view::npos;
}

// The length of the well-formed UTF-8 sequence (RFC 3629 §4) of two or more octets at `at`, 0 if
// there is none: overlong forms, surrogates and values past U+10FFFF are ill-formed.
std::size_t utf8_sequence(std::string_view text, std::size_t at) {
    const auto lead = static_cast<unsigned char>(text[at]);
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        low = lead == 0xE0 ? 0xA0 : 0x80;
        high = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        low = lead == 0xF0 ? 0x90 : 0x80;
        high = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (at + length > text.size()) {
        return 0;
    }
    for (std::size_t index = 1; index < length; ++index) {
        const auto octet = static_cast<unsigned char>(text[at + index]);
        if (octet < (index == 1 ? low : 0x80) || octet > (index == 1 ? high : 0xBF)) {
            return 0;
        }
    }
    return length;
}

class Lexer {
  public:
    explicit Lexer(std::string_view value) : text_(value) {}

    const Token& peek() {
        if (!peeked_) {
            token_ = lex();
            peeked_ = true;
        }
        return token_;
    }
    Token next() {
        const Token token = peek();
        if (token.kind != Kind::end && token.kind != Kind::error) {
            peeked_ = false;  // end and error stay: every later read sees them
        }
        return token;
    }
    bool next_is(char special) {
        const Token& token = peek();
        return token.kind == Kind::special && token.text.front() == special;
    }

  private:
    Token lex();
    bool skip_cfws();  // false on bytes no CFWS may hold
    bool skip_comment();
    bool skip_comment_character();
    bool skip_fold();  // at a CR: CRLF WSP is folding, anything else is a bare CR
    bool skip_utf8();  // at an octet >= 0x80: a well-formed sequence
    Token lex_quoted();
    Token lex_literal();
    Token lex_atom();

    std::string_view text_;
    std::size_t at_ = 0;
    Token token_;
    bool peeked_ = false;
};

bool Lexer::skip_fold() {
    if (at_ + 2 < text_.size() && text_[at_ + 1] == '\n' && is_whitespace(text_[at_ + 2])) {
        at_ += 3;
        return true;
    }
    return false;
}

bool Lexer::skip_utf8() {
    const std::size_t length = utf8_sequence(text_, at_);
    at_ += length;
    return length != 0;
}

// At '(': skips to the matching ')'.
bool Lexer::skip_comment() {
    std::size_t depth = 0;
    while (at_ < text_.size()) {
        const char octet = text_[at_];
        if (octet == '(') {
            ++depth, ++at_;
        } else if (octet == ')') {
            ++at_;
            if (--depth == 0) {
                return true;
            }
        } else if (!skip_comment_character()) {
            return false;
        }
    }
    return false;  // unclosed
}

// One ctext or quoted-pair ("\" (VCHAR / WSP), or UTF-8 by RFC 6532), or a fold. '<', '>' and '@'
// are refused, even quoted: a parser that ignores comments or backslashes finds an address there.
bool Lexer::skip_comment_character() {
    const bool quoted = text_[at_] == '\\';
    if (quoted && ++at_ == text_.size()) {
        return false;
    }
    const char octet = text_[at_];
    const auto value = static_cast<unsigned char>(octet);
    if (octet == '<' || octet == '>' || octet == '@') {
        return false;
    }
    if (value >= 0x80) {
        return skip_utf8();
    }
    if (octet == '\r') {
        return !quoted && skip_fold();
    }
    if ((value >= 33 && value <= 126) || is_whitespace(octet)) {
        ++at_;
        return true;
    }
    return false;  // NUL, bare LF, other controls, DEL
}

bool Lexer::skip_cfws() {
    while (at_ < text_.size()) {
        const char octet = text_[at_];
        if (is_whitespace(octet)) {
            ++at_;
        } else if (octet == '\r') {
            if (!skip_fold()) {
                return false;
            }
        } else if (octet == '(') {
            if (!skip_comment()) {
                return false;
            }
        } else {
            return true;
        }
    }
    return true;
}

Token Lexer::lex() {
    const std::size_t before = at_;
    if (!skip_cfws()) {
        return Token{Kind::error, {}, false, false, false};
    }
    const bool space = at_ != before;
    if (at_ == text_.size()) {
        return Token{Kind::end, {}, space, false, false};
    }
    Token token;
    const char octet = text_[at_];
    if (octet == '"') {
        token = lex_quoted();
    } else if (octet == '[') {
        token = lex_literal();
    } else if (std::string_view("<>@,:;.").find(octet) != std::string_view::npos) {
        token = Token{Kind::special, text_.substr(at_, 1), false, false, false};
        ++at_;
    } else {
        token = lex_atom();
    }
    token.space_before = space;
    return token;
}

Token Lexer::lex_quoted() {
    const std::size_t begin = at_++;
    Token token{Kind::quoted, {}, false, false, false};
    while (at_ < text_.size()) {
        const char octet = text_[at_];
        const auto value = static_cast<unsigned char>(octet);
        if (octet == '"') {
            ++at_;
            token.text = text_.substr(begin, at_ - begin);
            return token;
        }
        if (octet == '\\') {
            token.has_special = true;
            ++at_;
            if (at_ == text_.size()) {
                break;
            }
            const auto quoted = static_cast<unsigned char>(text_[at_]);
            token.has_angle = token.has_angle || quoted == '<' || quoted == '>';
            if (quoted >= 0x80) {
                if (!skip_utf8()) {
                    break;
                }
            } else if ((quoted >= 33 && quoted <= 126) || is_whitespace(text_[at_])) {
                ++at_;
            } else {
                break;
            }
        } else if (octet == '\r') {
            if (!skip_fold()) {
                break;
            }
        } else if (value >= 0x80) {
            if (!skip_utf8()) {
                break;
            }
        } else if ((value >= 33 && value <= 126) || is_whitespace(octet)) {
            token.has_angle = token.has_angle || octet == '<' || octet == '>';
            token.has_special = token.has_special || std::string_view("()<>[]:;@,").find(octet) !=
                                                         std::string_view::npos;
            ++at_;
        } else {
            break;
        }
    }
    return Token{Kind::error, {}, false, false, false};
}

// A domain literal, restricted to the characters of an address literal (RFC 5321 §4.1.3: IPv4,
// "IPv6:" and general "tag:content" forms): letters, digits, '.', ':' and '-'. The rest of RFC
// 5322's dtext ('(', '"', '@', '<' ...) would let "[1.2.\"x\"@bad.example]" pass as one literal,
// where a lax parser sees an address. Not empty, no whitespace or folding inside.
Token Lexer::lex_literal() {
    const std::size_t begin = at_++;
    while (at_ < text_.size()) {
        const auto value = static_cast<unsigned char>(text_[at_]);
        if (value == ']') {
            ++at_;
            if (at_ - begin == 2) {
                break;
            }
            return Token{Kind::literal, text_.substr(begin, at_ - begin), false, false, false};
        }
        const bool allowed = (value >= 'a' && value <= 'z') || (value >= 'A' && value <= 'Z') ||
                             (value >= '0' && value <= '9') || value == '.' || value == ':' ||
                             value == '-';
        if (!allowed) {
            break;
        }
        ++at_;
    }
    return Token{Kind::error, {}, false, false, false};
}

Token Lexer::lex_atom() {
    const std::size_t begin = at_;
    while (at_ < text_.size()) {
        const char octet = text_[at_];
        if (is_atext(octet)) {
            ++at_;
        } else if (static_cast<unsigned char>(octet) >= 0x80) {
            if (!skip_utf8()) {
                return Token{Kind::error, {}, false, false, false};
            }
        } else {
            break;
        }
    }
    if (at_ == begin) {
        // ')', ']', '\', a bare LF, NUL or another control octet where a token should start
        return Token{Kind::error, {}, false, false, false};
    }
    return Token{Kind::atom, text_.substr(begin, at_ - begin), false, false, false};
}

// What reading one part of a mailbox gave.
struct Read {
    std::variant<std::string, FromRefusal> value;
};

bool is_word(const Token& token) {
    return token.kind == Kind::atom || token.kind == Kind::quoted;
}

// A run of words and dots, before '<' or '@': both readings are tracked until the next token
// tells which one it was.
struct Run {
    std::size_t tokens = 0;
    bool phrase = true;      // display-name: word *(word / "." / CFWS)
    bool local_part = true;  // dot-atom, quoted string or obs-local-part, without CFWS inside
    bool after_word = false;

    void add(const Token& token) {
        const bool word = is_word(token);
        if (tokens == 0 && !word) {
            phrase = false;
        }
        if (token.kind == Kind::quoted && token.has_angle) {
            phrase = false;
        }
        // In a local part: words and dots alternate, starting and ending with a word, with no
        // CFWS between them, no special in a quoted word and no encoded-word (RFC 2047 §5).
        if ((tokens != 0 && token.space_before) || word == after_word ||
            (token.kind == Kind::quoted && token.has_special) ||
            (token.kind == Kind::atom && token.text.find("=?") != std::string_view::npos)) {
            local_part = false;
        }
        after_word = word;
        ++tokens;
    }
    bool complete_local_part() const { return tokens != 0 && local_part && after_word; }
};

Run read_run(Lexer& lexer) {
    Run run;
    while (is_word(lexer.peek()) || lexer.next_is('.')) {
        run.add(lexer.next());
    }
    return run;
}

bool is_domain_octet(char octet) {
    const auto value = static_cast<unsigned char>(octet);
    return (value >= 'a' && value <= 'z') || (value >= 'A' && value <= 'Z') ||
           (value >= '0' && value <= '9') || octet == '-' || octet == '.' || value >= 0x80;
}

// After '@': a domain name (atoms and dots, no CFWS inside, one final dot allowed) or a domain
// literal. `space_allowed`: CFWS may stand before it (a route's domains only).
Read read_domain(Lexer& lexer, bool space_allowed) {
    const Token first = lexer.next();
    if (first.space_before && !space_allowed) {
        return Read{FromRefusal::unparsable};
    }
    std::string_view domain;
    if (first.kind == Kind::literal) {
        domain = first.text;
    } else if (first.kind == Kind::atom) {
        const char* begin = first.text.data();
        const char* end = begin + first.text.size();
        while (lexer.next_is('.') && !lexer.peek().space_before) {
            lexer.next();
            const Token& label = lexer.peek();
            if (label.kind == Kind::atom && !label.space_before) {
                end = label.text.data() + label.text.size();
                lexer.next();
            } else if (is_word(label) || label.kind == Kind::literal || lexer.next_is('.')) {
                return Read{FromRefusal::unparsable};  // "a. b", "a.\"b\"", "a..b"
            } else {
                break;  // a final dot: dropped
            }
        }
        domain = std::string_view(begin, static_cast<std::size_t>(end - begin));
        if (!std::all_of(domain.begin(), domain.end(), is_domain_octet)) {
            return Read{FromRefusal::unparsable};
        }
    } else {
        return Read{FromRefusal::unparsable};
    }
    if (domain.size() > domain_bytes_max) {
        return Read{FromRefusal::unparsable};
    }
    std::string lowered(domain);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char octet) {
        return octet >= 'A' && octet <= 'Z' ? static_cast<char>(octet + 32) : octet;
    });
    return Read{std::move(lowered)};
}

// obs-route (RFC 5322 §4.4), after '<' when '@' follows: "@a,@b:". Its domains are hops of a
// source route, not the sender's, and are only checked for form.
bool skip_route(Lexer& lexer) {
    while (true) {
        if (!lexer.next_is('@')) {
            return false;
        }
        lexer.next();
        if (!std::holds_alternative<std::string>(read_domain(lexer, true).value)) {
            return false;
        }
        if (lexer.next_is(':')) {
            lexer.next();
            return true;
        }
        if (!lexer.next_is(',')) {
            return false;
        }
        while (lexer.next_is(',')) {
            lexer.next();
        }
    }
}

// After '<': [route] addr-spec '>'. "<>" and "<alice>" have no domain.
Read read_angle_address(Lexer& lexer) {
    if (lexer.next_is('@') && !skip_route(lexer)) {
        return Read{FromRefusal::unparsable};
    }
    const Run run = read_run(lexer);
    if (lexer.next_is('>')) {
        lexer.next();
        return Read{run.tokens == 0 || run.complete_local_part() ? FromRefusal::no_domain
                                                                 : FromRefusal::unparsable};
    }
    if (!lexer.next_is('@') || !run.complete_local_part() || lexer.peek().space_before) {
        return Read{FromRefusal::unparsable};
    }
    lexer.next();
    Read domain = read_domain(lexer, false);
    if (!lexer.next_is('>')) {
        return Read{FromRefusal::unparsable};
    }
    lexer.next();
    return domain;
}

// One mailbox: name-addr or addr-spec.
Read read_mailbox(Lexer& lexer) {
    const Run run = read_run(lexer);
    if (lexer.next_is('<')) {
        if (run.tokens != 0 && !run.phrase) {
            return Read{FromRefusal::unparsable};
        }
        lexer.next();
        return read_angle_address(lexer);
    }
    if (lexer.next_is('@')) {
        if (!run.complete_local_part() || lexer.peek().space_before) {
            return Read{FromRefusal::unparsable};
        }
        lexer.next();
        return read_domain(lexer, false);
    }
    const Token& after = lexer.peek();
    if ((after.kind == Kind::end || (after.kind == Kind::special && after.text == ",")) &&
        run.complete_local_part()) {
        return Read{FromRefusal::no_domain};
    }
    return Read{FromRefusal::unparsable};  // a group (':'), a lone phrase, a stray special
}

// A line that reads "From:" once leading whitespace is ignored: a field the header index could
// not name (name_bytes 0), or a folded line of another field. A parser that drops the whitespace
// sees a From field of its own there.
bool looks_like_from(std::string_view field) {
    while (!field.empty() && is_whitespace(field.front())) {
        field.remove_prefix(1);
    }
    if (field.size() < 5 || !equal_ignoring_case(field.substr(0, 4), "from")) {
        return false;
    }
    field.remove_prefix(4);
    while (!field.empty() && is_whitespace(field.front())) {
        field.remove_prefix(1);
    }
    return !field.empty() && field.front() == ':';
}

// Whether a line after the first of a field (a folded line) reads "From:".
bool has_folded_from(std::string_view field) {
    std::size_t crlf = field.find("\r\n");
    while (crlf != std::string_view::npos && crlf + 2 < field.size()) {
        if (looks_like_from(field.substr(crlf + 2))) {
            return true;
        }
        crlf = field.find("\r\n", crlf + 2);
    }
    return false;
}

}  // namespace

FromAddresses parse_from_value(std::string_view value, std::size_t mailboxes_max) {
    RELAY_ASSERT(mailboxes_max >= 1);
    Lexer lexer(value);
    FromDomains result;
    while (true) {
        // obs-mbox-list: empty elements between commas carry nothing and are skipped
        while (lexer.next_is(',')) {
            lexer.next();
        }
        if (lexer.peek().kind == Kind::end) {
            break;
        }
        if (result.domains.size() == mailboxes_max) {
            return FromRefusal::too_many;
        }
        Read mailbox = read_mailbox(lexer);
        if (auto* refusal = std::get_if<FromRefusal>(&mailbox.value)) {
            return *refusal;
        }
        result.domains.push_back(std::move(std::get<std::string>(mailbox.value)));
        if (!lexer.next_is(',') && lexer.peek().kind != Kind::end) {
            return FromRefusal::unparsable;
        }
    }
    if (result.domains.empty()) {
        return FromRefusal::unparsable;
    }
    return result;
}

FromAddresses from_addresses(const HeaderBlock& headers, std::size_t mailboxes_max) {
    std::size_t found = 0;
    std::size_t from_index = 0;
    for (std::size_t index = 0; index < headers.fields.size(); ++index) {
        const HeaderField& field = headers.fields[index];
        const std::string_view whole(headers.bytes.data() + field.offset, field.field_bytes);
        if ((field.name_bytes == 0 && looks_like_from(whole)) || has_folded_from(whole)) {
            return FromRefusal::duplicate;
        }
        if (field.name_bytes == 0) {
            continue;
        }
        if (equal_ignoring_case(whole.substr(0, field.name_bytes), "from")) {
            ++found;
            from_index = index;
        }
    }
    if (found == 0) {
        return FromRefusal::missing;
    }
    if (found > 1) {
        return FromRefusal::duplicate;
    }
    return parse_from_value(headers.raw_field(from_index), mailboxes_max);
}

std::string_view from_refusal_name(FromRefusal refusal) {
    switch (refusal) {
        case FromRefusal::missing:
            return "missing";
        case FromRefusal::duplicate:
            return "duplicate";
        case FromRefusal::unparsable:
            return "unparsable";
        case FromRefusal::no_domain:
            return "no_domain";
        case FromRefusal::too_many:
            return "too_many";
    }
    return "unknown";
}

}  // namespace relay::message
