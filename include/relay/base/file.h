// file.h -- reading a whole small file: configuration, keys, the dashboard, state relay wrote.
//
// Every such read has a bound: a wrong path (a device, a log that grew) must fail with a clear
// error, not fill memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay {

// The bytes of the file at `path`. Errors: "cannot read WHAT PATH: strerror" with the errno's
// code and blame, or "WHAT PATH is larger than N bytes" (invalid_argument, the configuration's).
// `what` says what the file is for, such as "config file".
Result<std::string> read_file(std::string_view what, const std::string& path,
                              std::size_t bytes_max);

}  // namespace relay
