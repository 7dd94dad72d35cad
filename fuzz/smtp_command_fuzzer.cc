// smtp_command_fuzzer.cc -- libFuzzer harness for the SMTP command parser (parse_command,
// parse_path, is_valid_utf8).
//
// The input is one command line, as the session would hand it over. Beyond "never crash", the
// harness checks what the parser promises: every view lies inside the line, a path's pieces fit
// together and respect the RFC 5321 limits, has_utf8 tells the truth, every refusal is one of the
// documented replies, trailing and leading spaces change nothing, a parsed mailbox parses again
// to itself, and is_valid_utf8 agrees with a slow reference decoder.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>

#include "relay/smtp/command.h"

namespace {

using namespace relay::smtp;

#define FUZZ_CHECK(condition)                                                           \
    do {                                                                                \
        if (!(condition)) {                                                             \
            std::fprintf(stderr, "check failed: %s (line %d)\n", #condition, __LINE__); \
            std::abort();                                                               \
        }                                                                               \
    } while (false)

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) {
        return true;
    }
    const auto part_begin = reinterpret_cast<std::uintptr_t>(part.data());
    const auto whole_begin = reinterpret_cast<std::uintptr_t>(whole.data());
    return part_begin >= whole_begin && part_begin + part.size() <= whole_begin + whole.size();
}

bool any_high_octet(std::string_view bytes) {
    for (const char c : bytes) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return true;
        }
    }
    return false;
}

bool lower_equals(std::string_view text, std::string_view lower) {
    if (text.size() != lower.size()) {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] + 32) : text[i];
        if (c != lower[i]) {
            return false;
        }
    }
    return true;
}

bool documented(const SyntaxReply& reply) {
    for (const SyntaxReply& known : parser_replies::all) {
        if (known == reply) {
            return true;
        }
    }
    return false;
}

// The slow, obviously correct decoder: decode each sequence, then reject overlongs, surrogates
// and values above U+10FFFF.
bool reference_valid_utf8(std::string_view text) {
    std::size_t index = 0;
    while (index < text.size()) {
        const unsigned lead = static_cast<unsigned char>(text[index]);
        const std::size_t length = lead < 0x80           ? 1
                                   : (lead >> 5) == 0x6  ? 2
                                   : (lead >> 4) == 0xE  ? 3
                                   : (lead >> 3) == 0x1E ? 4
                                                         : 0;
        if (length == 0 || index + length > text.size()) {
            return false;
        }
        std::uint32_t value = length == 1 ? lead : lead & (0x7FU >> length);
        for (std::size_t k = 1; k < length; ++k) {
            const unsigned octet = static_cast<unsigned char>(text[index + k]);
            if ((octet & 0xC0) != 0x80) {
                return false;
            }
            value = value << 6 | (octet & 0x3F);
        }
        const std::uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
        if (value < minimum[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
            return false;
        }
        index += length;
    }
    return true;
}

void check_path(const Path& path, std::string_view line, bool sender) {
    FUZZ_CHECK(inside(path.mailbox, line));
    FUZZ_CHECK(inside(path.local_part, line));
    FUZZ_CHECK(inside(path.domain, line));
    if (path.is_null()) {
        FUZZ_CHECK(sender);
        FUZZ_CHECK(path.local_part.empty() && path.domain.empty() && !path.has_utf8);
        return;
    }
    FUZZ_CHECK(path.local_part.data() == path.mailbox.data());
    FUZZ_CHECK(path.local_part.size() <= local_part_bytes_max);
    FUZZ_CHECK(path.domain.size() <= domain_bytes_max);
    FUZZ_CHECK(path.mailbox.size() + 2 <= path_bytes_max);
    FUZZ_CHECK(path.has_utf8 == any_high_octet(path.mailbox));
    FUZZ_CHECK(is_valid_utf8(path.mailbox));
    if (path.domain.empty()) {
        FUZZ_CHECK(!sender && lower_equals(path.mailbox, "postmaster"));
        FUZZ_CHECK(path.local_part.size() == path.mailbox.size());
    } else {
        FUZZ_CHECK(path.local_part.size() + 1 + path.domain.size() == path.mailbox.size());
        FUZZ_CHECK(path.mailbox[path.local_part.size()] == '@');
        FUZZ_CHECK(path.domain.data() + path.domain.size() ==
                   path.mailbox.data() + path.mailbox.size());
        // A General-address-literal may hold "<" and ">" (dcontent), never spaces or controls.
        for (const char c : path.domain) {
            FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
        }
    }
    // The mailbox alone, bracketed, parses to the same pieces.
    const std::string again = "<" + std::string(path.mailbox) + ">";
    const auto reparsed = parse_path(again, sender);
    FUZZ_CHECK(std::holds_alternative<Path>(reparsed));
    const Path& second = std::get<Path>(reparsed);
    FUZZ_CHECK(second.mailbox == path.mailbox && second.local_part == path.local_part &&
               second.domain == path.domain && second.has_utf8 == path.has_utf8);
}

struct CommandChecker {
    std::string_view line;

    void operator()(const Hello& hello) const {
        FUZZ_CHECK(!hello.domain.empty() && inside(hello.domain, line));
        FUZZ_CHECK(hello.domain.find_first_of(" \t") == std::string_view::npos);
        FUZZ_CHECK(is_valid_utf8(hello.domain));
    }
    void operator()(const Mail& mail) const {
        check_path(mail.reverse_path, line, true);
        FUZZ_CHECK(inside(mail.parameters.auth, line));
    }
    void operator()(const Rcpt& rcpt) const { check_path(rcpt.forward_path, line, false); }
    void operator()(const Vrfy& vrfy) const {
        FUZZ_CHECK(!vrfy.argument.empty() && inside(vrfy.argument, line));
    }
    void operator()(const Expn& expn) const {
        FUZZ_CHECK(!expn.argument.empty() && inside(expn.argument, line));
    }
    void operator()(const Help& help) const { FUZZ_CHECK(inside(help.topic, line)); }
    void operator()(const Auth& auth) const {
        FUZZ_CHECK(!auth.mechanism.empty() && auth.mechanism.size() <= 20);
        FUZZ_CHECK(inside(auth.mechanism, line) && inside(auth.initial_response, line));
        FUZZ_CHECK(auth.initial_response.size() % 4 == 0 || auth.initial_response == "=");
    }
    void operator()(const Unknown& unknown) const {
        FUZZ_CHECK(inside(unknown.verb, line));
        FUZZ_CHECK(unknown.verb.find_first_of(" \t") == std::string_view::npos);
    }
    void operator()(const Invalid& invalid) const {
        FUZZ_CHECK(documented(invalid.reply));
        FUZZ_CHECK(!(invalid.reply == parser_replies::unknown_command));
    }
    void operator()(const Data&) const {}
    void operator()(const Bdat&) const {}
    void operator()(const Rset&) const {}
    void operator()(const Noop&) const {}
    void operator()(const Quit&) const {}
    void operator()(const StartTls&) const {}
};

// Same alternative, and for a refusal the same reply.
bool same_outcome(const Command& a, const Command& b) {
    if (a.index() != b.index()) {
        return false;
    }
    if (const auto* invalid = std::get_if<Invalid>(&a)) {
        return invalid->reply == std::get<Invalid>(b).reply;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // libFuzzer hands over an exactly sized heap copy: ASan sees any read past the line.
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const Command command = parse_command(line);
    std::visit(CommandChecker{line}, command);

    const std::string padded = " \t" + std::string(line) + " \t ";
    const Command padded_command = parse_command(padded);
    std::visit(CommandChecker{padded}, padded_command);
    // Spaces around a line are tolerated: they change nothing.
    FUZZ_CHECK(same_outcome(command, padded_command));

    for (const bool sender : {true, false}) {
        const auto path = parse_path(line, sender);
        if (const auto* parsed = std::get_if<Path>(&path)) {
            check_path(*parsed, line, sender);
        } else {
            FUZZ_CHECK(documented(std::get<SyntaxReply>(path)));
        }
    }

    FUZZ_CHECK(is_valid_utf8(line) == reference_valid_utf8(line));
    return 0;
}
