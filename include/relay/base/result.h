// result.h -- errors as values at part boundaries.
//
// `Result<T>` holds either a value or an `Error`; `Status` is `Result<void>`. Both are
// [[nodiscard]]: an ignored operating error is a bug. Exceptions never cross a part boundary;
// a part that uses a throwing library (tomlplusplus, CLI11) converts at its edge.
//
// std::expected would do, but it needs C++23 and the fuzz build uses clang 14, whose concepts
// support is too old for libstdc++'s <expected>.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "relay/base/assert.h"

namespace relay {

// What kind of failure an error is (the canonical codes of Abseil's status, trimmed to what
// relay meets). The code, not the message, tells a caller whether the same request can succeed
// later and which reply it earns, so no caller parses a message.
enum class ErrorCode : std::uint8_t {
    internal,             // an unexpected failure (a system call that should not fail)
    unavailable,          // for now: an I/O error, a timeout, a peer that does not answer
    resource_exhausted,   // out of something that drains or grows: disk space, memory, a queue
    invalid_argument,     // the request is malformed; the same request always fails
    not_found,            // what the request names does not exist
    already_exists,       // what the request would create exists
    failed_precondition,  // the state does not allow it now (a quota, a spool in use)
    permission_denied,    // the system refuses it (file modes, an unprivileged user)
    data_loss,            // stored bytes are damaged
};

// Who must act for the failure to go away; it picks the reader of the detail (the client gets a
// reply from the catalogue, the operator the log line, the peer's text goes to the sender).
enum class Blame : std::uint8_t {
    relay,          // this relayd or its host (disk, memory, a bug): the operator, from the log
    configuration,  // a configured value: the operator, by changing it
    client,         // whoever made the request (an SMTP client, a relayctl user)
    peer,           // a remote server or resolver
};

// One line for a human (operator log, CLI output), naming what is wrong. It may name files and
// system errors, so it never goes to an SMTP client as is (see ingress's reply for a failure).
struct Error {
    std::string message;
    int system_errno = 0;  // errno when a system call failed, else 0
    ErrorCode code = ErrorCode::internal;
    Blame blame = Blame::relay;

    // Whether the same request may succeed later without anyone changing it.
    bool retry_can_help() const {
        return code == ErrorCode::unavailable || code == ErrorCode::resource_exhausted ||
               code == ErrorCode::internal;
    }
};

// An error with its kind stated (aggregate initialization would need the errno in between).
inline Error make_error(ErrorCode code, Blame blame, std::string message) {
    return Error{std::move(message), 0, code, blame};
}

template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        RELAY_ASSERT(ok());
        return std::get<0>(state_);
    }
    const T& value() const& {
        RELAY_ASSERT(ok());
        return std::get<0>(state_);
    }
    T&& value() && {
        RELAY_ASSERT(ok());
        return std::get<0>(std::move(state_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const {
        RELAY_ASSERT(!ok());
        return std::get<1>(state_);
    }

  private:
    std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const {
        RELAY_ASSERT(failed_);
        return error_;
    }

  private:
    Error error_;
    bool failed_ = false;
};

using Status = Result<void>;

// Builds an Error from errno-style codes (positive errno, or the negative result of io_uring):
// "what: strerror", with the code and blame the errno implies (ENOSPC: resource_exhausted,
// ECONNREFUSED: unavailable and the peer's, EACCES: permission_denied and the configuration's).
Error system_error(std::string what, int error_number);

}  // namespace relay
