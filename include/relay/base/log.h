// log.h -- the operator log: one line per event, on stderr.
//
// Levels have fixed meanings (after Postfix's msg(3)): info is normal operation, warning is a
// problem relay worked around, error is a failure of one request, fatal ends the process.
//
// Threads: any. A line is formatted into a thread-local buffer. By default the line is written at
// once with write(2); an engine worker installs a deferred mode and flushes the buffer through its
// ring (every few tens of milliseconds, or sooner when much has gathered), so that logging never
// blocks a worker. Never log per byte or per
// line of input: per message and per connection is the finest grain.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace relay::log {

enum class Level { debug, info, warning, error, fatal };

void set_level(Level minimum);
bool enabled(Level level);

// Names the calling thread in its lines ("main", "w0", "admin").
void set_thread_name(std::string_view name);

// Deferred mode: lines accumulate in the thread's buffer until take_pending() hands them over.
void set_thread_deferred(bool deferred);
// Moves the pending lines out (empty if none). Only meaningful in deferred mode.
std::string take_pending();
// Bytes of lines waiting in the thread's buffer.
std::size_t pending_bytes();
// Puts bytes that could not be written back in front of the pending lines.
void put_back_pending(std::string_view bytes);

void write(Level level, std::string_view text);

// Flushes the thread's pending lines and exits with status 1.
[[noreturn]] void internal_exit_fatal();

template <class... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::debug)) {
        write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
    }
}
template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::info)) {
        write(Level::info, fmt::format(format, std::forward<Args>(args)...));
    }
}
template <class... Args>
void warning(fmt::format_string<Args...> format, Args&&... args) {
    write(Level::warning, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
    write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}
// Writes the line, flushes, and exits with status 1.
template <class... Args>
[[noreturn]] void fatal(fmt::format_string<Args...> format, Args&&... args) {
    write(Level::fatal, fmt::format(format, std::forward<Args>(args)...));
    internal_exit_fatal();
}

}  // namespace relay::log
