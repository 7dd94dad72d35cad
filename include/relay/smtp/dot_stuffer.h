// dot_stuffer.h -- dot-stuffing (RFC 5321 §4.5.2) of a message that arrives in pieces.
//
// A '.' that starts a line is doubled, so that the line "." that ends DATA cannot occur inside
// the message. A line starts at the start of the text and after each LF (a bare LF too, as a
// receiver that tolerates bare LF would see it). The only state between pieces is whether the
// next octet starts a line, so a piece may end anywhere, between CR and LF included.
//
// Pure. The bytes are the relay's own stored message; nothing in them is trusted to be
// well-formed, and any octets are fine. Runs on the worker that owns the outbound connection.
// Cost: one memchr per line, no per-octet branch; a piece with no '.' to add is returned as it
// is, without a copy. Memory: one buffer of twice the largest piece that needed a copy, kept
// until release().
#pragma once

#include <string>
#include <string_view>

namespace relay::smtp {

class DotStuffer {
  public:
    // `text` (the next piece), stuffed: `text` itself when no '.' had to be added, else a view
    // of the stuffer's own buffer, valid until the next call to stuff() or release().
    [[nodiscard]] std::string_view stuff(std::string_view text);
    // Whether the next octet starts a line: true before the first piece and after an LF.
    bool line_start() const { return line_start_; }
    // Frees the buffer; the line state stays.
    void release();

  private:
    std::string buffer_;
    bool line_start_ = true;
};

}  // namespace relay::smtp
