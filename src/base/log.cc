// log.cc -- formatting and writing operator log lines.
#include "relay/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>

namespace relay::log {
namespace {

std::atomic<int> minimum_level{static_cast<int>(Level::info)};

struct ThreadState {
    std::string name = "main";
    std::string pending;
    bool deferred = false;
};

ThreadState& thread_state() {
    thread_local ThreadState state;
    return state;
}

const char* level_name(Level level) {
    switch (level) {
        case Level::debug:
            return "debug";
        case Level::info:
            return "info";
        case Level::warning:
            return "warning";
        case Level::error:
            return "error";
        case Level::fatal:
            return "fatal";
    }
    return "?";
}

void write_all(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t written = ::write(STDERR_FILENO, bytes.data(), bytes.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // Nowhere left to report a broken log.
        }
        bytes.remove_prefix(static_cast<size_t>(written));
    }
}

}  // namespace

void set_level(Level minimum) {
    minimum_level.store(static_cast<int>(minimum));
}

bool enabled(Level level) {
    return static_cast<int>(level) >= minimum_level.load();
}

void set_thread_name(std::string_view name) {
    thread_state().name = name;
}

void set_thread_deferred(bool deferred) {
    ThreadState& state = thread_state();
    state.deferred = deferred;
    if (!deferred && !state.pending.empty()) {
        write_all(state.pending);
        state.pending.clear();
    }
}

std::string take_pending() {
    std::string lines;
    lines.swap(thread_state().pending);
    return lines;
}

std::size_t pending_bytes() {
    return thread_state().pending.size();
}

void put_back_pending(std::string_view bytes) {
    std::string& pending = thread_state().pending;
    pending.insert(0, bytes);
}

void write(Level level, std::string_view text) {
    ThreadState& state = thread_state();
    auto now = std::chrono::system_clock::now();
    std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);

    std::string& out = state.pending;
    fmt::format_to(std::back_inserter(out), "{}.{:03}Z relay[{}] {}: {}\n", stamp,
                   static_cast<int>(millis.count()), state.name, level_name(level), text);
    if (!state.deferred || level == Level::fatal) {
        write_all(out);
        out.clear();
    }
}

void internal_exit_fatal() {
    ThreadState& state = thread_state();
    write_all(state.pending);
    state.pending.clear();
    std::_Exit(1);
}

}  // namespace relay::log
