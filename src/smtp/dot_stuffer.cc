// dot_stuffer.cc -- dot-stuffing across piece boundaries (RFC 5321 §4.5.2).
//
// The first pass only looks for a line that starts with '.'; most pieces have none and go back
// as they came. From the first such line on, the rest of the piece is copied with the dots
// doubled. Never allocates per octet: the buffer is sized once for the worst case (every line a
// lone '.') of the piece.
#include "relay/smtp/dot_stuffer.h"

#include <cstring>

namespace relay::smtp {
namespace {

// The offset one past the next LF at or after `begin`, or npos when there is none.
std::size_t after_next_newline(std::string_view text, std::size_t begin) {
    const void* newline = std::memchr(text.data() + begin, '\n', text.size() - begin);
    if (newline == nullptr) {
        return std::string_view::npos;
    }
    return static_cast<std::size_t>(static_cast<const char*>(newline) - text.data()) + 1;
}

}  // namespace

std::string_view DotStuffer::stuff(std::string_view text) {
    // Pass one: up to the first line that starts with '.', nothing needs a copy.
    std::size_t begin = 0;
    bool line_start = line_start_;
    while (begin < text.size() && !(line_start && text[begin] == '.')) {
        begin = after_next_newline(text, begin);
        if (begin == std::string_view::npos) {
            line_start_ = false;
            return text;
        }
        line_start = true;
    }
    if (begin == text.size()) {
        line_start_ = line_start;
        return text;
    }
    // Pass two, from that line on: copy, doubling each '.' that starts a line. At most one '.'
    // is added per octet of `text`, so the buffer never grows past its reservation.
    buffer_.clear();
    buffer_.reserve(2 * text.size());
    buffer_.append(text.substr(0, begin));
    while (begin < text.size()) {
        if (line_start && text[begin] == '.') {
            buffer_.push_back('.');
        }
        const std::size_t end = after_next_newline(text, begin);
        if (end == std::string_view::npos) {
            buffer_.append(text.substr(begin));
            line_start = false;
            break;
        }
        buffer_.append(text.substr(begin, end - begin));
        begin = end;
        line_start = true;
    }
    line_start_ = line_start;
    return buffer_;
}

void DotStuffer::release() {
    std::string().swap(buffer_);
}

}  // namespace relay::smtp
