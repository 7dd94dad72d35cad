// command.cc -- the SMTP command line parser: verbs, their arguments, ESMTP parameters.
//
// Implements RFC 5321 §4.1.1 (commands) and §4.1.2 (esmtp-param), with the parameters of
// RFC 1870 (SIZE), RFC 6152 (BODY=8BITMIME), RFC 3030 (BDAT, BODY=BINARYMIME), RFC 6531
// (SMTPUTF8), RFC 4954 (AUTH command and the AUTH= parameter, RFC 3461 §4 xtext) and RFC 3207
// (STARTTLS). Paths are parsed in path.cc.
//
// Untrusted bytes: the line comes straight from a client, before authentication. Pure, runs on
// the worker that owns the session. It must never allocate (every view points into the line),
// never recurse, and never look at an octet twice more than a constant number of times: the
// session calls it once per command line on the hot path.
#include "relay/smtp/command.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "chars.h"
#include "relay/base/ascii.h"

namespace relay::smtp {
namespace {

using namespace internal;
namespace replies = parser_replies;

// A four-octet word folded to lower case, so that one switch picks the verb. OR-ing 0x20 maps
// exactly {x, X} onto x for a letter x, and the tags below are all letters, so the comparison is
// an exact case-insensitive match.
constexpr std::uint32_t tag(std::string_view lower) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(lower[0])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(lower[1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(lower[2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(lower[3])) << 24;
}

std::uint32_t folded_tag(std::string_view word) {
    return tag(word) | 0x20202020U;
}

// 1*DIGIT that fits in 64 bits (RFC 1870 size-value, RFC 3030 chunk-size).
std::optional<std::uint64_t> parse_uint64(std::string_view digits) {
    if (digits.empty()) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (const char c : digits) {
        if (!is_digit(c) || __builtin_mul_overflow(value, 10U, &value) ||
            __builtin_add_overflow(value, static_cast<unsigned>(c - '0'), &value)) {
            return std::nullopt;
        }
    }
    return value;
}

// RFC 3461 §4: xtext = *( xchar / hexchar ), hexchar = "+" 2HEXDIG. Lower-case hex digits are
// tolerated; decoding is the session's business.
bool is_xtext(std::string_view text) {
    for (std::size_t index = 0; index < text.size(); ++index) {
        if (text[index] == '+') {
            if (index + 2 >= text.size() || !is(text[index + 1], char_hex) ||
                !is(text[index + 2], char_hex)) {
                return false;
            }
            index += 2;
        } else if (!is(text[index], char_xchar)) {
            return false;
        }
    }
    return true;
}

// RFC 4648 §4 with padding: groups of four, "=" only at the end, at most two of them.
bool is_base64(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) {
        return false;
    }
    std::size_t data_end = text.size();
    while (data_end > 0 && text.size() - data_end < 2 && text[data_end - 1] == '=') {
        --data_end;
    }
    for (std::size_t index = 0; index < data_end; ++index) {
        if (!is(text[index], char_base64)) {
            return false;
        }
    }
    return true;
}

// A hostname as a client claims it: printable ASCII or well-formed UTF-8, nothing else.
bool is_hello_name(std::string_view name) {
    for (const char c : name) {
        if (!is(c, char_printable | char_high)) {
            return false;
        }
    }
    return !has_high_octet(name) || is_valid_utf8(name);
}

Command parse_hello(std::string_view arguments, bool extended) {
    const std::string_view name = split_word(arguments).word;
    if (name.empty() || !is_hello_name(name)) {
        return Invalid{extended ? replies::ehlo_syntax : replies::helo_syntax};
    }
    return Hello{name, extended};
}

// esmtp-param = esmtp-keyword ["=" esmtp-value]
struct Parameter {
    std::string_view keyword;
    std::string_view value;
    bool has_value = false;
};

std::optional<Parameter> split_parameter(std::string_view token) {
    const std::size_t equals = token.find('=');
    Parameter parameter;
    parameter.keyword = token.substr(0, equals);
    // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    if (parameter.keyword.empty() || !is_let_dig(parameter.keyword.front())) {
        return std::nullopt;
    }
    for (const char c : parameter.keyword) {
        if (!is_let_dig(c) && c != '-') {
            return std::nullopt;
        }
    }
    if (equals == std::string_view::npos) {
        return parameter;
    }
    // esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)
    parameter.value = token.substr(equals + 1);
    parameter.has_value = true;
    if (parameter.value.empty()) {
        return std::nullopt;
    }
    for (const char c : parameter.value) {
        if (!is(c, char_esmtp_value | char_high)) {
            return std::nullopt;
        }
    }
    return parameter;
}

enum class MailKeyword { size, body, smtputf8, auth, unknown };

MailKeyword mail_keyword(std::string_view keyword) {
    if (keyword.size() == 4) {
        switch (folded_tag(keyword)) {
            case tag("size"):
                return MailKeyword::size;
            case tag("body"):
                return MailKeyword::body;
            case tag("auth"):
                return MailKeyword::auth;
            default:
                return MailKeyword::unknown;
        }
    }
    return equal_ignoring_case(keyword, "smtputf8") ? MailKeyword::smtputf8 : MailKeyword::unknown;
}

std::optional<BodyType> parse_body(std::string_view value) {
    if (equal_ignoring_case(value, "7bit")) {
        return BodyType::seven_bit;
    }
    if (equal_ignoring_case(value, "8bitmime")) {
        return BodyType::eight_bit_mime;
    }
    if (equal_ignoring_case(value, "binarymime")) {
        return BodyType::binary_mime;
    }
    return std::nullopt;
}

std::variant<MailParameters, SyntaxReply> parse_mail_parameters(std::string_view text) {
    MailParameters parameters;
    unsigned seen = 0;
    // Each round consumes at least one octet of `text`.
    while (!text.empty()) {
        const WordSplit split = split_word(text);
        text = split.rest;
        const std::optional<Parameter> parameter = split_parameter(split.word);
        if (!parameter) {
            return replies::parameter_syntax;
        }
        const MailKeyword keyword = mail_keyword(parameter->keyword);
        if (keyword == MailKeyword::unknown) {
            return replies::parameter_unsupported;
        }
        const unsigned bit = 1U << static_cast<unsigned>(keyword);
        if ((seen & bit) != 0) {
            return replies::parameter_duplicate;
        }
        seen |= bit;
        switch (keyword) {
            case MailKeyword::size: {
                const auto size = parse_uint64(parameter->value);
                if (!size) {
                    return replies::size_value;
                }
                parameters.size = size;
                break;
            }
            case MailKeyword::body: {
                const auto body = parse_body(parameter->value);
                if (!body) {
                    return replies::body_value;
                }
                parameters.body = *body;
                break;
            }
            case MailKeyword::smtputf8:
                if (parameter->has_value) {
                    return replies::smtputf8_value;
                }
                parameters.smtputf8 = true;
                break;
            case MailKeyword::auth:
                if (!parameter->has_value || !is_xtext(parameter->value)) {
                    return replies::auth_value;
                }
                parameters.auth = parameter->value;
                break;
            case MailKeyword::unknown:
                break;
        }
    }
    return parameters;
}

// RCPT TO takes no parameter we offer (no DSN): a well-formed one is unsupported.
std::optional<SyntaxReply> check_rcpt_parameters(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    const WordSplit split = split_word(text);
    return split_parameter(split.word) ? replies::parameter_unsupported : replies::parameter_syntax;
}

// Index of the ">" that closes the path opened by text[0] == '<', skipping a quoted local part
// (which may hold ">" and spaces), or npos.
std::size_t find_path_end(std::string_view text) {
    bool quoted = false;
    for (std::size_t index = 1; index < text.size(); ++index) {
        const char c = text[index];
        if (quoted && c == '\\') {
            ++index;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '>') {
            return index;
        }
    }
    return std::string_view::npos;
}

// The path and the parameters after "FROM:" / "TO:". A path without brackets must be the only
// argument, since without them nothing marks where the path ends.
struct PathArguments {
    std::string_view path;
    std::string_view parameters;
};

std::variant<PathArguments, SyntaxReply> split_path_arguments(std::string_view text,
                                                              SyntaxReply usage,
                                                              SyntaxReply bad_path) {
    if (text.empty()) {
        return usage;
    }
    if (text.front() != '<') {
        const WordSplit split = split_word(text);
        if (!split.rest.empty()) {
            return usage;
        }
        return PathArguments{split.word, {}};
    }
    const std::size_t end = find_path_end(text);
    if (end == std::string_view::npos) {
        return bad_path;
    }
    const std::string_view tail = text.substr(end + 1);
    if (!tail.empty() && !is_space(tail.front())) {
        return usage;
    }
    return PathArguments{text.substr(0, end + 1), skip_spaces(tail)};
}

Command parse_mail(std::string_view arguments) {
    if (!starts_with_ignoring_case(arguments, "from:")) {
        return Invalid{replies::mail_syntax};
    }
    const auto split = split_path_arguments(skip_spaces(arguments.substr(5)), replies::mail_syntax,
                                            replies::sender_syntax);
    if (const auto* reply = std::get_if<SyntaxReply>(&split)) {
        return Invalid{*reply};
    }
    const auto& path_arguments = std::get<PathArguments>(split);
    auto path = parse_path(path_arguments.path, true);
    if (const auto* reply = std::get_if<SyntaxReply>(&path)) {
        return Invalid{*reply};
    }
    auto parameters = parse_mail_parameters(path_arguments.parameters);
    if (const auto* reply = std::get_if<SyntaxReply>(&parameters)) {
        return Invalid{*reply};
    }
    return Mail{std::get<Path>(path), std::get<MailParameters>(parameters)};
}

Command parse_rcpt(std::string_view arguments) {
    if (!starts_with_ignoring_case(arguments, "to:")) {
        return Invalid{replies::rcpt_syntax};
    }
    const auto split = split_path_arguments(skip_spaces(arguments.substr(3)), replies::rcpt_syntax,
                                            replies::recipient_syntax);
    if (const auto* reply = std::get_if<SyntaxReply>(&split)) {
        return Invalid{*reply};
    }
    const auto& path_arguments = std::get<PathArguments>(split);
    auto path = parse_path(path_arguments.path, false);
    if (const auto* reply = std::get_if<SyntaxReply>(&path)) {
        return Invalid{*reply};
    }
    if (const auto reply = check_rcpt_parameters(path_arguments.parameters)) {
        return Invalid{*reply};
    }
    return Rcpt{std::get<Path>(path)};
}

// RFC 3030: "BDAT" SP chunk-size [ SP end-marker ]
Command parse_bdat(std::string_view arguments) {
    const WordSplit size_split = split_word(arguments);
    const auto size = parse_uint64(size_split.word);
    if (!size) {
        return Invalid{replies::bdat_syntax};
    }
    if (size_split.rest.empty()) {
        return Bdat{*size, false};
    }
    const WordSplit last_split = split_word(size_split.rest);
    if (!last_split.rest.empty() || !equal_ignoring_case(last_split.word, "last")) {
        return Invalid{replies::bdat_syntax};
    }
    return Bdat{*size, true};
}

// RFC 4954 §4: "AUTH" SP sasl-mech [SP initial-response]; sasl-mech is 1*20 characters
// (RFC 4422 §3.1), accepted in either case.
Command parse_auth(std::string_view arguments) {
    constexpr std::size_t mechanism_bytes_max = 20;
    const WordSplit mechanism_split = split_word(arguments);
    const std::string_view mechanism = mechanism_split.word;
    if (mechanism.empty() || mechanism.size() > mechanism_bytes_max) {
        return Invalid{replies::auth_syntax};
    }
    for (const char c : mechanism) {
        if (!is(c, char_sasl)) {
            return Invalid{replies::auth_syntax};
        }
    }
    if (mechanism_split.rest.empty()) {
        return Auth{mechanism, {}};
    }
    const WordSplit response_split = split_word(mechanism_split.rest);
    if (!response_split.rest.empty()) {
        return Invalid{replies::auth_syntax};
    }
    const std::string_view response = response_split.word;
    if (response != "=" && !is_base64(response)) {
        return Invalid{replies::auth_base64};
    }
    return Auth{mechanism, response};
}

template <class Verb>
Command without_arguments(std::string_view arguments, SyntaxReply usage) {
    if (!arguments.empty()) {
        return Invalid{usage};
    }
    return Verb{};
}

template <class Verb>
Command with_argument(std::string_view arguments, SyntaxReply usage) {
    if (arguments.empty()) {
        return Invalid{usage};
    }
    return Verb{arguments};
}

}  // namespace

Command parse_command(std::string_view line) {
    const WordSplit split = split_word(trim_spaces(line));
    const std::string_view verb = split.word;
    const std::string_view arguments = split.rest;  // no trailing spaces: the line was trimmed
    if (verb.size() == 4) {
        switch (folded_tag(verb)) {
            case tag("mail"):
                return parse_mail(arguments);
            case tag("rcpt"):
                return parse_rcpt(arguments);
            case tag("ehlo"):
                return parse_hello(arguments, true);
            case tag("helo"):
                return parse_hello(arguments, false);
            case tag("data"):
                return without_arguments<Data>(arguments, replies::data_syntax);
            case tag("bdat"):
                return parse_bdat(arguments);
            case tag("rset"):
                return without_arguments<Rset>(arguments, replies::rset_syntax);
            case tag("noop"):
                return Noop{};
            case tag("quit"):
                return without_arguments<Quit>(arguments, replies::quit_syntax);
            case tag("vrfy"):
                return with_argument<Vrfy>(arguments, replies::vrfy_syntax);
            case tag("expn"):
                return with_argument<Expn>(arguments, replies::expn_syntax);
            case tag("help"):
                return Help{arguments};
            case tag("auth"):
                return parse_auth(arguments);
            default:
                break;
        }
    } else if (equal_ignoring_case(verb, "starttls")) {
        return without_arguments<StartTls>(arguments, replies::starttls_syntax);
    }
    return Unknown{verb};
}

}  // namespace relay::smtp
