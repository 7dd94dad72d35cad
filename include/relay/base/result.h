// result.h -- errors as values at part boundaries.
//
// `Result<T>` holds either a value or an `Error`; `Status` is `Result<void>`. Both are
// [[nodiscard]]: an ignored operating error is a bug. Exceptions never cross a part boundary;
// a part that uses a throwing library (tomlplusplus, CLI11) converts at its edge.
//
// std::expected would do, but it needs C++23 and the fuzz build uses clang 14, whose concepts
// support is too old for libstdc++'s <expected>.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "relay/base/assert.h"

namespace relay {

// One line for a human (operator log, CLI output), naming what is wrong; never internals.
struct Error {
    std::string message;
    int system_errno = 0;  // errno when a system call failed, else 0
};

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

// Builds an Error from errno-style codes (positive errno, or the negative result of io_uring).
Error system_error(std::string what, int error_number);

}  // namespace relay
