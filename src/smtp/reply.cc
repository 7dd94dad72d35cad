// reply.cc -- writing SMTP replies, and reading them back from a remote server.
//
// Implements RFC 5321 §4.2 (reply lines, multi-line replies, §4.2.1) and RFC 2034 / RFC 3463
// (enhanced status codes). `ReplyReader` handles untrusted bytes from the servers we deliver to:
// every line and every reply is bounded, and malformed input ends in `broken()`, never a crash.
// Pure; runs on the worker that owns the connection. It never blocks and copies a line only when
// the line is split across feeds.
#include "relay/smtp/reply.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "chars.h"
#include "relay/base/assert.h"

namespace relay::smtp {
namespace {

using internal::is_digit;

constexpr std::size_t broken_excerpt_bytes_max = 64;

// Printable ASCII of the start of `line`, for an operator to see what the server sent.
std::string excerpt(std::string_view line) {
    std::string out;
    const std::size_t length = std::min(line.size(), broken_excerpt_bytes_max);
    out.reserve(length);
    for (std::size_t index = 0; index < length; ++index) {
        const char c = line[index];
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return out;
}

// Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 §4.2)
bool is_reply_code(std::string_view line) {
    return line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
           line[1] <= '5' && is_digit(line[2]);
}

// Length of an enhanced status code at the start of `text` (RFC 3463 §2: class "." 1*3digit "."
// 1*3digit, then a space or nothing), or 0. The class must be the reply's own first digit: a
// "250 5.0.0" is not an enhanced code we believe, and 3xx replies carry none (RFC 2034 §3).
std::size_t enhanced_code_length(std::string_view text, char reply_class) {
    if (reply_class == '3' || text.size() < 5 || text[0] != reply_class || text[1] != '.') {
        return 0;
    }
    constexpr std::size_t part_digits_max = 3;
    std::size_t index = 2;
    for (int part = 0; part < 2; ++part) {
        const std::size_t start = index;
        while (index < text.size() && index - start < part_digits_max && is_digit(text[index])) {
            ++index;
        }
        if (index == start) {
            return 0;
        }
        if (part == 0) {
            if (index >= text.size() || text[index] != '.') {
                return 0;
            }
            ++index;
        }
    }
    if (index < text.size() && text[index] != ' ') {
        return 0;
    }
    return index;
}

std::string_view strip_enhanced_code(std::string_view text, std::size_t length) {
    text.remove_prefix(length);
    if (!text.empty() && text.front() == ' ') {
        text.remove_prefix(1);
    }
    return text;
}

void append_line(std::string& out, int code, char separator, std::string_view enhanced,
                 std::string_view text) {
    const char digits[] = {static_cast<char>('0' + code / 100),
                           static_cast<char>('0' + code / 10 % 10),
                           static_cast<char>('0' + code % 10)};
    out.append(digits, sizeof digits);
    if (enhanced.empty() && text.empty()) {
        if (separator == '-') {
            out.push_back('-');
        }
        out += "\r\n";
        return;
    }
    out.push_back(separator);
    out += enhanced;
    if (!enhanced.empty() && !text.empty()) {
        out.push_back(' ');
    }
    out += text;
    out += "\r\n";
}

}  // namespace

// A '\n' in `text` starts another line of the same reply, so that a multi-line reply (EHLO, or a
// Reply read from a server, whose lines are joined with '\n') is written with one call.
void append_reply(std::string& out, int code, std::string_view enhanced, std::string_view text,
                  bool more) {
    RELAY_ASSERT(code >= 200 && code <= 599);
    RELAY_ASSERT(enhanced.find_first_of("\r\n") == std::string_view::npos);
    while (true) {
        const std::size_t newline = text.find('\n');
        if (newline == std::string_view::npos) {
            append_line(out, code, more ? '-' : ' ', enhanced, text);
            return;
        }
        append_line(out, code, '-', enhanced, text.substr(0, newline));
        text.remove_prefix(newline + 1);
    }
}

std::string Reply::summary() const {
    const std::string_view first_line = std::string_view(text).substr(0, text.find('\n'));
    std::string out = fmt::format("{}", code);
    for (const std::string_view part : {std::string_view(enhanced), first_line}) {
        if (!part.empty()) {
            out.push_back(' ');
            out += part;
        }
    }
    return out;
}

std::size_t ReplyReader::feed(std::string_view input) {
    if (broken_) {
        return input.size();  // the connection is useless: discard, so a loop cannot spin
    }
    if (complete_) {
        return 0;  // one reply at a time: take() it first
    }
    std::size_t consumed = 0;
    // Each round consumes at least one octet, or stores the rest of the input and stops.
    while (consumed < input.size() && !complete_ && !broken_) {
        const std::string_view rest = input.substr(consumed);
        const std::size_t newline = rest.find('\n');
        // A line holds at most line_bytes_max octets and a CR before its LF.
        if (newline == std::string_view::npos) {
            if (partial_.size() + rest.size() > line_bytes_max + 1) {
                set_broken(fmt::format("reply line longer than {} octets", line_bytes_max));
                break;
            }
            partial_ += rest;
            consumed = input.size();
            break;
        }
        consumed += newline + 1;
        if (partial_.empty()) {
            consume_line(rest.substr(0, newline));
            continue;
        }
        if (partial_.size() + newline > line_bytes_max + 1) {
            set_broken(fmt::format("reply line longer than {} octets", line_bytes_max));
            break;
        }
        partial_ += rest.substr(0, newline);
        consume_line(partial_);
        partial_.clear();
    }
    return broken_ ? input.size() : consumed;
}

std::optional<Reply> ReplyReader::take() {
    std::optional<Reply> reply = std::move(complete_);
    complete_.reset();
    return reply;
}

void ReplyReader::set_broken(std::string reason) {
    broken_ = true;
    broken_reason_ = std::move(reason);
    building_.reset();
    complete_.reset();
    partial_.clear();
}

bool ReplyReader::consume_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    if (line.size() > line_bytes_max) {
        set_broken(fmt::format("reply line longer than {} octets", line_bytes_max));
        return false;
    }
    if (!is_reply_code(line) || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        set_broken(fmt::format("malformed reply line \"{}\"", excerpt(line)));
        return false;
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    const bool last = line.size() == 3 || line[3] == ' ';
    std::string_view text = line.size() > 3 ? line.substr(4) : std::string_view();
    if (!building_) {
        building_.emplace();
        building_->code = code;
        lines_ = 0;
        const std::size_t length = enhanced_code_length(text, line[0]);
        if (length > 0) {
            building_->enhanced.assign(text.substr(0, length));
            text = strip_enhanced_code(text, length);
        }
    } else if (code != building_->code) {
        set_broken(
            fmt::format("multi-line reply changes its code from {} to {}", building_->code, code));
        return false;
    } else if (!building_->enhanced.empty()) {
        // Servers repeat the code on every line; only the first line's is kept.
        const std::size_t length = enhanced_code_length(text, line[0]);
        if (length > 0) {
            text = strip_enhanced_code(text, length);
        }
    }
    if (++lines_ > lines_max) {
        set_broken(fmt::format("reply longer than {} lines", lines_max));
        return false;
    }
    if (lines_ > 1) {
        building_->text.push_back('\n');
    }
    building_->text += text;
    if (last) {
        complete_ = std::move(building_);
        building_.reset();
        lines_ = 0;
    }
    return true;
}

}  // namespace relay::smtp
