// service_notify.cc -- sd_notify(3)'s datagram, sent by hand.
#include "service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "relay/base/log.h"
#include "relay/base/result.h"

namespace relay {

void notify_service_manager(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || path[0] == '\0') {
        return;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::size_t length = std::strlen(path);
    if ((path[0] != '/' && path[0] != '@') || length >= sizeof address.sun_path) {
        log::warning("NOTIFY_SOCKET is not a socket path: systemd is not told \"{}\"", state);
        return;
    }
    std::memcpy(address.sun_path, path, length);
    if (path[0] == '@') {
        address.sun_path[0] = '\0';  // an abstract socket
    }
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log::warning("cannot tell systemd \"{}\": {}", state,
                     system_error("socket", errno).message);
        return;
    }
    auto address_length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    if (::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&address), address_length) < 0) {
        log::warning("cannot tell systemd \"{}\": {}", state,
                     system_error("sendto " + std::string(path), errno).message);
    }
    ::close(fd);
}

}  // namespace relay
