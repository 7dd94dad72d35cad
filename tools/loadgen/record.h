// record.h -- the evidence of what the server acknowledged: --record lines and --dump-dir files.
//
// A record line is written for each message that got a 2xx reply after its data:
//     QUEUE-ID <TAB> INDEX <TAB> SIZE <TAB> XXH3-64 (16 hex digits) <LF>
// QUEUE-ID is the token after "queued as" in the reply, or the whole reply line when there is
// none; the hash covers the exact message bytes before dot-stuffing. A crash test compares these
// lines with what the server still holds after a restart.
//
// Each worker buffers its lines and appends them with one write(2) to a file opened O_APPEND, so
// lines of different workers never interleave. Buffers are flushed when they pass 64 KiB, when a
// connection fails (the server may be dying), every 100 ms, and at exit.
// Untrusted bytes: the reply line (tabs and control characters are replaced before writing).
// Threads: one Recorder per worker. Must never: lose a line it has accepted without counting a
// write error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "message.h"

namespace loadgen {

class Recorder {
  public:
    // record_fd < 0: no --record; dump_dir empty: no --dump-dir.
    Recorder(int record_fd, std::string dump_dir);
    ~Recorder();
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    bool enabled() const { return record_fd_ >= 0 || !dump_dir_.empty(); }
    // Notes an accepted message; returns the number of failed writes (0 when all went well).
    int accepted(const Message& message, std::string_view final_line);
    // Writes the buffered lines; returns the number of failed writes.
    int flush();
    bool has_pending() const { return !buffer_.empty(); }

  private:
    int dump(const Message& message, std::string_view queue_id);

    int record_fd_;
    std::string dump_dir_;
    std::string buffer_;
};

inline constexpr std::size_t record_buffer_bytes_max = 64 * 1024;

}  // namespace loadgen
