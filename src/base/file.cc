// file.cc -- reading a whole small file with a bound.
#include "relay/base/file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace relay {
namespace {

// Closes the descriptor on every return path.
struct FileDescriptor {
    int fd;
    ~FileDescriptor() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

}  // namespace

Result<std::string> read_file(std::string_view what, const std::string& path,
                              std::size_t bytes_max) {
    FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) {
        return system_error(fmt::format("cannot read {} {}", what, path), errno);
    }
    std::string bytes;
    std::size_t used = 0;
    // One byte past the bound tells a file of exactly bytes_max from a larger one.
    while (used <= bytes_max) {
        if (bytes.size() == used) {
            bytes.resize(std::min(bytes_max + 1, std::max<std::size_t>(4096, used * 2)));
        }
        ssize_t got = ::read(file.fd, bytes.data() + used, bytes.size() - used);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return system_error(fmt::format("cannot read {} {}", what, path), errno);
        }
        if (got == 0) {
            bytes.resize(used);
            return bytes;
        }
        used += static_cast<std::size_t>(got);
    }
    return make_error(ErrorCode::invalid_argument, Blame::configuration,
                      fmt::format("{} {} is larger than {} bytes", what, path, bytes_max));
}

}  // namespace relay
