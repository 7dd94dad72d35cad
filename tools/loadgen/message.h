// message.h -- the messages loadgen sends: deterministic per index, exactly --size bytes.
//
// A message is a small header block formatted per message plus a body that is a slice of a pool
// of pseudo-random 76-character lines built once at start-up. The pool exists twice: as is (for
// BDAT, the record hash and the dump) and dot-stuffed (RFC 5321 section 4.5.2, for DATA), so that
// sending a message costs no per-byte work: the body is handed to the kernel as iovecs pointing
// into the pool.
//
// Untrusted bytes: none. Threads: built on main, then read-only and shared by all workers;
// `build` writes only into the caller's Message.
// Must never: touch the pool after start-up, or produce a line longer than 78 bytes with CRLF.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"

namespace loadgen {

struct MessageSettings {
    std::uint64_t size_bytes = 10240;
    std::uint64_t seed = 1;
    bool dot_lines = false;
    bool smtputf8 = false;
    std::string from;
    std::vector<std::string> to;
    std::uint32_t recipients = 1;
    std::string run_id;
    std::string date;
    std::uint64_t index_max = 0;  // the largest index that will be built (for the size check)
};

// One message, as sent. Views point into the factory's pool and stay valid while it lives.
struct Message {
    std::uint64_t index = 0;
    std::uint32_t first_recipient = 0;  // into MessageSettings::to; the rest follow round-robin
    std::string headers;                // reused from message to message
    std::string_view raw_body;          // pool slice, as the message holds it
    std::string_view wire_body;         // the same lines, dot-stuffed
    std::string_view tail;              // the last, shorter line of the body

    std::uint64_t size_bytes() const { return headers.size() + raw_body.size() + tail.size(); }
    std::uint64_t wire_bytes() const { return headers.size() + wire_body.size() + tail.size(); }
    // Fills three iovecs with the message as it is (BDAT, dumps).
    void raw_iovecs(iovec* out) const;
    // Fills three iovecs with the dot-stuffed message (DATA), without the final ".".
    void wire_iovecs(iovec* out) const;
    // xxh3-64 of the message as it is (before dot-stuffing).
    std::uint64_t hash() const;
};

class MessageFactory {
  public:
    // Fails (with the reason) when --size cannot hold the headers plus a body line.
    static relay::Status check(const MessageSettings& settings);
    explicit MessageFactory(MessageSettings settings);

    void build(std::uint64_t index, Message& out) const;
    const MessageSettings& settings() const { return settings_; }

  private:
    void build_pool();

    MessageSettings settings_;
    std::string raw_pool_;
    std::string wire_pool_;
    std::vector<std::uint64_t> raw_line_offsets_;   // line i is [offsets[i], offsets[i + 1])
    std::vector<std::uint64_t> wire_line_offsets_;  // the same lines, dot-stuffed
    std::vector<std::string> tails_;                // tails_[n]: a line of n bytes with its CRLF
};

// Shortest possible body: one full line plus room for the tail rule.
inline constexpr std::uint64_t body_bytes_min = 80;

}  // namespace loadgen
