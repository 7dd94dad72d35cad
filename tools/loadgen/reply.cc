// reply.cc -- SMTP reply and EHLO keyword parsing (RFC 5321 sections 4.1.1.1, 4.2; RFC 2920,
// RFC 3030, RFC 6531, RFC 6152 for the keywords read).
//
// Untrusted bytes: yes. Thread: the connection's worker. Pure; bounded by reply_line_bytes_max
// and reply_lines_max.
#include "reply.h"

#include "relay/base/ascii.h"

namespace loadgen {
namespace {

using relay::equal_ignoring_case;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// The line without its CR, or npos in `end` when no LF is there yet.
struct Line {
    std::string_view text;
    std::size_t end = std::string_view::npos;  // offset just past the LF
};

Line next_line(std::string_view input, std::size_t offset) {
    std::size_t limit = input.size() - offset;
    if (limit > reply_line_bytes_max) {
        limit = reply_line_bytes_max;
    }
    std::size_t lf = input.substr(offset, limit).find('\n');
    if (lf == std::string_view::npos) {
        return {};
    }
    std::string_view text = input.substr(offset, lf);
    if (!text.empty() && text.back() == '\r') {
        text.remove_suffix(1);
    }
    return {text, offset + lf + 1};
}

int code_of(std::string_view line) {
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2])) {
        return -1;
    }
    if (line[0] < '1' || line[0] > '5') {
        return -1;
    }
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-') {
        return -1;
    }
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

}  // namespace

ParsedReply parse_reply(std::string_view input) {
    ParsedReply reply;
    std::size_t offset = 0;
    for (std::size_t count = 0; count < reply_lines_max; ++count) {
        Line line = next_line(input, offset);
        if (line.end == std::string_view::npos) {
            bool too_long = input.size() - offset >= reply_line_bytes_max;
            reply.status = too_long ? ReplyStatus::malformed : ReplyStatus::incomplete;
            return reply;
        }
        int code = code_of(line.text);
        if (code < 0 || (reply.code != 0 && code != reply.code)) {
            reply.status = ReplyStatus::malformed;
            return reply;
        }
        reply.code = code;
        offset = line.end;
        if (line.text.size() == 3 || line.text[3] == ' ') {
            reply.status = ReplyStatus::complete;
            reply.consumed_bytes = offset;
            reply.last_line = line.text;
            return reply;
        }
    }
    reply.status = ReplyStatus::malformed;
    return reply;
}

EhloFeatures parse_ehlo(std::string_view reply) {
    EhloFeatures features;
    Line line = next_line(reply, 0);
    for (std::size_t count = 1; count < reply_lines_max && line.end != std::string_view::npos;
         ++count) {
        line = next_line(reply, line.end);
        if (line.end == std::string_view::npos || line.text.size() <= 4) {
            continue;
        }
        std::string_view keyword = line.text.substr(4);
        keyword = keyword.substr(0, keyword.find(' '));
        features.pipelining |= equal_ignoring_case(keyword, "PIPELINING");
        features.chunking |= equal_ignoring_case(keyword, "CHUNKING");
        features.size |= equal_ignoring_case(keyword, "SIZE");
        features.smtputf8 |= equal_ignoring_case(keyword, "SMTPUTF8");
        features.eight_bit_mime |= equal_ignoring_case(keyword, "8BITMIME");
    }
    return features;
}

std::string_view queue_id_of(std::string_view line) {
    constexpr std::string_view marker = "queued as ";
    for (std::size_t i = 0; i + marker.size() <= line.size(); ++i) {
        if (!equal_ignoring_case(line.substr(i, marker.size()), marker)) {
            continue;
        }
        std::string_view rest = line.substr(i + marker.size());
        std::string_view token = rest.substr(0, rest.find(' '));
        while (!token.empty() &&
               (token.back() == '.' || token.back() == ',' || token.back() == ';')) {
            token.remove_suffix(1);
        }
        return token;
    }
    return {};
}

}  // namespace loadgen
