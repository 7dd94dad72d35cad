// result.cc -- helpers for building errors.
#include "relay/base/result.h"

#include <cerrno>
#include <cstring>

namespace relay {
namespace {

ErrorCode code_of(int error_number) {
    switch (error_number) {
        case ENOSPC:
        case EDQUOT:
        case ENOMEM:
        case ENOBUFS:
        case EMFILE:
        case ENFILE:
            return ErrorCode::resource_exhausted;
        case EAGAIN:
        case EINTR:
        case EIO:
        case EBUSY:
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case ENETDOWN:
        case EADDRNOTAVAIL:
            return ErrorCode::unavailable;
        case ENOENT:
        case ENOTDIR:
            return ErrorCode::not_found;
        case EEXIST:
            return ErrorCode::already_exists;
        case EACCES:
        case EPERM:
        case EROFS:
            return ErrorCode::permission_denied;
        default:
            return ErrorCode::internal;
    }
}

Blame blame_of(int error_number) {
    switch (error_number) {
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE:
        case EHOSTUNREACH:
        case ENETUNREACH:
            return Blame::peer;
        case ENOENT:
        case ENOTDIR:
        case EACCES:
        case EPERM:
        case EROFS:
        case EADDRINUSE:
            return Blame::configuration;  // a path, a mode or an address the operator chose
        default:
            return Blame::relay;
    }
}

}  // namespace

Error system_error(std::string what, int error_number) {
    if (error_number < 0) {
        error_number = -error_number;
    }
    what += ": ";
    what += std::strerror(error_number);
    return Error{std::move(what), error_number, code_of(error_number), blame_of(error_number)};
}

}  // namespace relay
