// dsn.cc -- builds the bounce message: a multipart/report (RFC 6522) with a text explanation,
// a message/delivery-status part (RFC 3464 §2) and the original header block.
//
// Implements RFC 3464 §2.1-2.3 (per-message and per-recipient fields), RFC 3463 (status codes),
// RFC 6533 §3-6 (utf-8 address type, message/global-delivery-status, message/global-headers),
// RFC 2046 §5.1.1 (a boundary that does not occur in the content), RFC 5322 §2.1.1, §2.2.3 and
// §3.3 (line length, folding, date format), RFC 3834 §5 (Auto-Submitted).
//
// Untrusted bytes: the diagnostics (remote replies), addresses and original headers; every
// value is cleaned before it becomes part of a field, and no line leaves longer than 998
// octets. Pure, any thread; called once per bounce, so it builds strings freely. Never throws
// on any input, never loops without a bound.
#include "relay/delivery/dsn.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "relay/base/assert.h"

namespace relay::delivery {
namespace {

constexpr std::size_t line_octets_max = 998;    // RFC 5322 §2.1.1, without CRLF
constexpr std::size_t line_octets_wanted = 78;  // RFC 5322 §2.1.1 "SHOULD"
constexpr std::size_t piece_octets_max = 900;   // an unbreakable run is cut at this length
constexpr std::size_t boundary_id_octets_max = 24;
constexpr std::size_t host_octets_max = 255;

bool is_high(char c) {
    return static_cast<unsigned char>(c) >= 0x80;
}

bool has_high_octet(std::string_view text) {
    return std::any_of(text.begin(), text.end(), is_high);
}

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A value for a field: no CR, LF or other control octet; whitespace runs become one space;
// non-ASCII kept only when `utf8` (else '?'). Bounded by `octets_max`.
std::string clean(std::string_view text, bool utf8, std::size_t octets_max) {
    std::string out;
    out.reserve(std::min(text.size(), octets_max));
    for (const char c : text) {
        if (out.size() >= octets_max) {
            break;
        }
        const auto octet = static_cast<unsigned char>(c);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (!out.empty() && out.back() != ' ') {
                out.push_back(' ');
            }
        } else if (octet < 0x20 || octet == 0x7f) {
            continue;
        } else if (octet >= 0x80 && !utf8) {
            out.push_back('?');
        } else {
            out.push_back(c);
        }
    }
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    return out;
}

// Letters, digits, '-' and '.', for host names and message-id parts that land in syntax.
std::string clean_token(std::string_view text, std::size_t octets_max, bool allow_dot) {
    std::string out;
    for (const char c : text.substr(0, octets_max)) {
        if (is_alnum(c) || c == '-' || (allow_dot && c == '.')) {
            out.push_back(c);
        }
    }
    return out;
}

// Where to cut `text` at most `octets_max` octets in, not inside a UTF-8 sequence.
std::size_t cut_point(std::string_view text, std::size_t octets_max) {
    if (text.size() <= octets_max) {
        return text.size();
    }
    std::size_t cut = octets_max;
    // At most 3 continuation octets precede a sequence's first octet.
    for (int step = 0;
         step < 3 && cut > 1 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++step) {
        --cut;
    }
    return cut;
}

// Appends "Name: value" CRLF, folded at spaces (RFC 5322 §2.2.3) so that lines stay near 78
// octets where the words allow it and never pass 998; a run without spaces longer than
// piece_octets_max is cut (unfolding then shows a space there).
void append_field(std::string& out, std::string_view name, std::string_view value) {
    std::size_t line_octets = name.size() + 1;
    out += name;
    out += ':';
    bool first_word = true;
    while (!value.empty()) {
        std::size_t space = value.find(' ');
        std::string_view word = value.substr(0, space);
        const std::size_t length = cut_point(word, piece_octets_max);
        word = word.substr(0, length);
        value.remove_prefix(length);
        if (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
        if (word.empty()) {
            continue;  // never a fold line of whitespace only
        }
        const bool fits = line_octets + 1 + word.size() <= line_octets_wanted;
        if (!first_word && !fits) {
            out += "\r\n";
            line_octets = 0;
        }
        out += ' ';
        out += word;
        line_octets += 1 + word.size();
        first_word = false;
    }
    out += "\r\n";
}

// Appends `text` as lines of at most `width` octets where the words allow, each after `indent`.
void append_wrapped(std::string& out, std::string_view text, std::string_view indent,
                    std::size_t width) {
    std::size_t line_octets = 0;
    while (!text.empty()) {
        std::string_view word = text.substr(0, text.find(' '));
        const std::size_t length = cut_point(word, piece_octets_max);
        word = word.substr(0, length);
        text.remove_prefix(length);
        if (!text.empty() && text.front() == ' ') {
            text.remove_prefix(1);
        }
        if (word.empty()) {
            continue;
        }
        if (line_octets > 0 && line_octets + 1 + word.size() > width) {
            out += "\r\n";
            line_octets = 0;
        }
        if (line_octets == 0) {
            out += indent;
            line_octets = indent.size();
        } else {
            out += ' ';
            ++line_octets;
        }
        out += word;
        line_octets += word.size();
    }
    if (line_octets > 0) {
        out += "\r\n";
    }
}

// RFC 5322 §3.3: "Thu, 13 Feb 2025 10:00:00 +0000", always UTC.
std::string format_date(std::uint64_t unix_ms) {
    using namespace std::chrono;
    static constexpr std::string_view day_names[] = {"Sun", "Mon", "Tue", "Wed",
                                                     "Thu", "Fri", "Sat"};
    static constexpr std::string_view month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    // Clamped to the year 9999, so that the year always has four digits.
    constexpr std::uint64_t seconds_max = 253402300799;
    const sys_seconds time{
        seconds{static_cast<std::int64_t>(std::min(unix_ms / 1000, seconds_max))}};
    const sys_days day = floor<days>(time);
    const year_month_day date{day};
    const hh_mm_ss clock{time - day};
    return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
                       day_names[weekday{day}.c_encoding()], static_cast<unsigned>(date.day()),
                       month_names[static_cast<unsigned>(date.month()) - 1],
                       static_cast<int>(date.year()), clock.hours().count(),
                       clock.minutes().count(), clock.seconds().count());
}

// RFC 3463 §2: class.subject.detail, with class 4 or 5 (a bounce reports failures).
std::string clean_status(std::string_view status) {
    auto digits = [](std::string_view part) {
        return !part.empty() && part.size() <= 3 &&
               std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    const std::size_t first = status.find('.');
    const std::size_t second =
        first == std::string_view::npos ? first : status.find('.', first + 1);
    if (second == std::string_view::npos || first != 1 || (status[0] != '4' && status[0] != '5') ||
        !digits(status.substr(2, second - 2)) || !digits(status.substr(second + 1))) {
        return "5.0.0";
    }
    return std::string(status);
}

// RFC 6533 §3: the utf-8 type for an address that needs it, rfc822 for the rest.
std::string address_field(std::string_view address, bool utf8) {
    const std::string value = clean(address, utf8, line_octets_max);
    return fmt::format("{}; {}", utf8 && has_high_octet(value) ? "utf-8" : "rfc822", value);
}

// The original header block: CRLF lines up to the first empty line, bare CR or LF made CRLF,
// NUL dropped, lines longer than 998 octets cut into continuation lines.
std::string clean_headers(std::string_view headers) {
    std::string out;
    out.reserve(headers.size() + 2);
    while (!headers.empty()) {
        std::size_t end = headers.find_first_of("\r\n");
        std::string_view line = headers.substr(0, end);
        headers.remove_prefix(end == std::string_view::npos ? headers.size() : end);
        if (headers.starts_with("\r\n")) {
            headers.remove_prefix(2);
        } else if (!headers.empty()) {
            headers.remove_prefix(1);
        }
        if (line.empty()) {
            break;  // the end of the header block
        }
        bool continuation = false;
        while (!line.empty()) {
            const std::size_t room = line_octets_max - (continuation ? 1 : 0);
            const std::size_t length = cut_point(line, room);
            out += continuation ? " " : "";
            for (const char c : line.substr(0, length)) {
                if (c != '\0') {
                    out.push_back(c);
                }
            }
            out += "\r\n";
            line.remove_prefix(length);
            continuation = true;
        }
    }
    return out;
}

std::string text_part(const DsnInput& input, bool utf8, std::string_view mta) {
    std::string out;
    out += fmt::format("This is the mail delivery system at {}.\r\n\r\n", mta);
    out += "Your message could not be delivered to one or more of its recipients. The\r\n";
    out += "reasons are listed below; the headers of your message are attached.\r\n\r\n";
    if (!input.queue_id.empty()) {
        out += fmt::format("Queue ID: {}\r\n", clean(input.queue_id, false, line_octets_wanted));
    }
    if (!input.resource.empty()) {
        out += fmt::format("Sent by: {}\r\n", clean(input.resource, false, line_octets_wanted));
    }
    if (input.arrival_unix_ms != 0) {
        out += fmt::format("Arrival date: {}\r\n", format_date(input.arrival_unix_ms));
    }
    for (const DsnRecipient& recipient : input.recipients) {
        out += "\r\n";
        const std::string address = clean(recipient.address, utf8, line_octets_max);
        const std::string host = clean_token(recipient.remote_mta, host_octets_max, true);
        const std::string diagnostic = clean(recipient.diagnostic, false, dsn_diagnostic_bytes_max);
        std::string intro;
        if (!recipient.remote) {
            intro = fmt::format("<{}>: delivery failed:", address);
        } else if (!host.empty()) {
            intro = fmt::format("<{}>: host {} said:", address, host);
        } else {
            intro = fmt::format("<{}>: the remote server said:", address);
        }
        append_wrapped(out, intro, "", line_octets_wanted - 2);
        append_wrapped(out, diagnostic.empty() ? "(no reason given)" : diagnostic, "    ",
                       line_octets_wanted - 2);
    }
    return out;
}

std::string status_part(const DsnInput& input, bool utf8, std::string_view mta) {
    std::string out;
    append_field(out, "Reporting-MTA", fmt::format("dns; {}", mta));
    if (!input.queue_id.empty()) {
        append_field(out, "X-Queue-ID", clean(input.queue_id, false, line_octets_wanted));
    }
    if (!input.resource.empty()) {
        // An extension field (RFC 3464 §2.1): which of the relay's resources sent the message.
        append_field(out, "X-Relay-Resource", clean(input.resource, false, line_octets_wanted));
    }
    if (input.arrival_unix_ms != 0) {
        append_field(out, "Arrival-Date", format_date(input.arrival_unix_ms));
    }
    const std::string now = format_date(input.now_unix_ms);
    for (const DsnRecipient& recipient : input.recipients) {
        out += "\r\n";
        append_field(out, "Final-Recipient", address_field(recipient.address, utf8));
        append_field(out, "Action", "failed");
        append_field(out, "Status", clean_status(recipient.status));
        const std::string host = clean_token(recipient.remote_mta, host_octets_max, true);
        if (!host.empty()) {
            append_field(out, "Remote-MTA", fmt::format("dns; {}", host));
        }
        const std::string diagnostic = clean(recipient.diagnostic, false, dsn_diagnostic_bytes_max);
        if (recipient.remote && !diagnostic.empty()) {
            append_field(out, "Diagnostic-Code", fmt::format("smtp; {}", diagnostic));
        }
        append_field(out, "Last-Attempt-Date", now);
    }
    return out;
}

// RFC 2046 §5.1.1: a boundary found nowhere in the parts. Candidates after the first all
// have the first as a prefix and the same length, so each occurrence of the first in the
// content rules out at most one more candidate: the loop ends within occurrences + 2 rounds.
std::string choose_boundary(const DsnInput& input, std::string_view content) {
    std::string base =
        fmt::format("=_relay_{}_{}", clean_token(input.queue_id, boundary_id_octets_max, false),
                    input.now_unix_ms);
    if (content.find(base) == std::string_view::npos) {
        return base;
    }
    for (std::uint32_t attempt = 1;; ++attempt) {
        RELAY_ASSERT(attempt <= content.size() + 1);
        std::string candidate = fmt::format("{}.{:08x}", base, attempt);
        if (content.find(candidate) == std::string_view::npos) {
            return candidate;
        }
    }
}

void append_part(std::string& out, std::string_view boundary, std::string_view content_type,
                 std::string_view description, std::string_view content) {
    out += fmt::format("--{}\r\n", boundary);
    out += fmt::format("Content-Type: {}\r\n", content_type);
    out += fmt::format("Content-Description: {}\r\n", description);
    if (has_high_octet(content)) {
        out += "Content-Transfer-Encoding: 8bit\r\n";
    }
    out += "\r\n";
    out += content;
}

}  // namespace

std::string build_dsn(const DsnInput& input) {
    RELAY_ASSERT(!input.sender.empty());
    RELAY_ASSERT(!input.recipients.empty());
    bool utf8 =
        input.utf8 || has_high_octet(input.sender) || has_high_octet(input.original_headers);
    for (const DsnRecipient& recipient : input.recipients) {
        utf8 = utf8 || has_high_octet(recipient.address);
    }
    std::string mta = clean_token(input.reporting_mta, host_octets_max, true);
    if (mta.empty()) {
        mta = "localhost";
    }
    const std::string text = text_part(input, utf8, mta);
    const std::string status = status_part(input, utf8, mta);
    const std::string headers = clean_headers(input.original_headers);
    const std::string boundary = choose_boundary(input, text + status + headers);

    std::string out;
    out.reserve(text.size() + status.size() + headers.size() + 1024);
    append_field(out, "From", fmt::format("Mail Delivery System <MAILER-DAEMON@{}>", mta));
    append_field(out, "To", fmt::format("<{}>", clean(input.sender, utf8, line_octets_max)));
    append_field(out, "Subject", "Undelivered Mail Returned to Sender");
    append_field(out, "Date", format_date(input.now_unix_ms));
    const std::string id = clean_token(input.queue_id, boundary_id_octets_max * 2, false);
    append_field(out, "Message-ID",
                 fmt::format("<{}.{}.dsn@{}>", id.empty() ? "relay" : id, input.now_unix_ms, mta));
    append_field(out, "Auto-Submitted", "auto-replied");
    append_field(out, "MIME-Version", "1.0");
    append_field(
        out, "Content-Type",
        fmt::format("multipart/report; report-type=delivery-status; boundary=\"{}\"", boundary));
    if (utf8 || has_high_octet(text) || has_high_octet(headers)) {
        out += "Content-Transfer-Encoding: 8bit\r\n";
    }
    out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";
    append_part(out, boundary, "text/plain; charset=utf-8", "Notification", text);
    out += "\r\n";
    append_part(out, boundary, utf8 ? "message/global-delivery-status" : "message/delivery-status",
                "Delivery report", status);
    out += "\r\n";
    append_part(out, boundary, utf8 ? "message/global-headers" : "text/rfc822-headers",
                "Undelivered message headers", headers);
    out += fmt::format("\r\n--{}--\r\n", boundary);
    return out;
}

}  // namespace relay::delivery
