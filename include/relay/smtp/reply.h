// reply.h -- SMTP replies: writing them (server side) and reading them (client side).
//
// RFC 5321 §4.2 (reply lines, multi-line replies), RFC 2034 and RFC 3463 (enhanced status
// codes). Pure, no I/O. `ReplyReader` handles untrusted bytes from remote servers: bounded line
// length and line count, never a crash on malformed input. A reader belongs to one connection
// and runs on the worker that owns it; it copies a line only when the line is split across
// feeds, and never logs.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace relay::smtp {

// Appends "CODE ENHANCED TEXT\r\n" (or "CODE TEXT\r\n" when `enhanced` is empty, "CODE\r\n"
// when both are). With `more` set, the separator is '-' (a non-final line of a multi-line reply,
// RFC 5321 §4.2.1). Each '\n' in `text` starts another line with the same code and enhanced
// code, so a `Reply` read from a server is written back with one call. `code` must be 200..599
// and `enhanced` a single line (programmer errors otherwise).
void append_reply(std::string& out, int code, std::string_view enhanced, std::string_view text,
                  bool more = false);

// One complete reply from a server, possibly assembled from several lines.
struct Reply {
    int code = 0;          // 200..599
    std::string enhanced;  // "2.0.0" from the first line, if the server sent one (RFC 2034)
    std::string text;      // the text of all lines, joined with '\n' (enhanced codes removed)

    bool positive() const { return code >= 200 && code < 400; }
    bool transient() const { return code >= 400 && code < 500; }
    bool permanent() const { return code >= 500; }
    // "250 2.0.0 Ok" -- the first line as a human reads it, for logs and DSNs.
    std::string summary() const;
};

// Reads replies from a byte stream. Lines may arrive split across feeds, at any octet.
//
// A line ends with CRLF, or a bare LF (tolerated); its length without the terminator is at most
// line_bytes_max. "ddd text", "ddd-text" and a bare "ddd" are accepted, where ddd is a reply code
// (RFC 5321 §4.2: 2..5, 0..5, 0..9); every line of a multi-line reply must repeat the code. An
// enhanced status code (RFC 2034) is taken from the first line when its class matches the reply
// code, and then stripped from every line that carries one. Anything else makes the reader
// broken, with a reason for the operator log that quotes at most 64 printable octets.
class ReplyReader {
  public:
    static constexpr std::size_t line_bytes_max = 2048;  // generous: RFC 5321 says 512
    static constexpr std::size_t lines_max = 100;        // bounds a multi-line reply

    // Consumes bytes from `input` up to the end of at most one complete reply, and returns how
    // many it consumed, so that the caller can act between pipelined replies. When a reply is
    // complete, `take()` returns it; until then further feeds consume nothing (return 0). Once
    // broken, a feed discards all its input (returns input.size()).
    std::size_t feed(std::string_view input);
    // The completed reply, if any (then the reader starts on the next one).
    std::optional<Reply> take();
    // Set when the server sent something that is not an SMTP reply; the connection is useless.
    bool broken() const { return broken_; }
    const std::string& broken_reason() const { return broken_reason_; }

  private:
    bool consume_line(std::string_view line);
    void set_broken(std::string reason);

    std::string partial_;  // an incomplete line carried between feeds
    std::optional<Reply> building_;
    std::optional<Reply> complete_;
    std::size_t lines_ = 0;
    bool broken_ = false;
    std::string broken_reason_;
};

}  // namespace relay::smtp
