// result.cc -- helpers for building errors.
#include "relay/base/result.h"

#include <cstring>

namespace relay {

Error system_error(std::string what, int error_number) {
    if (error_number < 0) {
        error_number = -error_number;
    }
    what += ": ";
    what += std::strerror(error_number);
    return Error{std::move(what), error_number};
}

}  // namespace relay
