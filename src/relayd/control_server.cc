// control_server.cc -- accepting relayctl's requests on a Unix socket.
#include "control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "relay/base/log.h"

namespace relay {
namespace {

constexpr std::size_t request_bytes_max = 64 * 1024;

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::string& path,
                                                            Handler handler) {
    sockaddr_un address{};
    if (path.size() >= sizeof address.sun_path) {
        return Error{"control socket path " + path + " is too long (" +
                     std::to_string(sizeof address.sun_path - 1) + " bytes max): use a shorter " +
                     "spool.path"};
    }
    std::unique_ptr<ControlServer> server(new ControlServer());
    server->path_ = path;
    server->handler_ = std::move(handler);
    server->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (server->fd_ < 0) {
        return system_error("cannot create the control socket", errno);
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    ::unlink(path.c_str());  // a stale socket of a relayd that died; the spool lock is ours
    mode_t previous = ::umask(0077);
    int bound = ::bind(server->fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::umask(previous);
    if (bound < 0 || ::listen(server->fd_, 16) < 0) {
        return system_error("cannot listen on the control socket " + path, errno);
    }
    server->thread_ = std::thread([raw = server.get()] { raw->serve(); });
    return server;
}

ControlServer::~ControlServer() {
    if (fd_ >= 0) {
        ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    }
    if (thread_.joinable()) {
        thread_.join();
    }
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
}

void ControlServer::serve() {
    log::set_thread_name("control");
    for (;;) {
        int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return;  // the socket was shut down: relayd is stopping
        }
        timeval timeout{10, 0};
        (void)setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        answer(client);
        ::close(client);
    }
}

void ControlServer::answer(int client) {
    std::string request;
    char buffer[4096];
    while (request.find('\n') == std::string::npos && request.size() < request_bytes_max) {
        ssize_t received = ::recv(client, buffer, sizeof buffer, 0);
        if (received <= 0) {
            break;
        }
        request.append(buffer, static_cast<std::size_t>(received));
    }
    std::size_t newline = request.find('\n');
    if (newline == std::string::npos) {
        return;
    }
    std::string response = handler_(request.substr(0, newline)) + "\n";
    std::size_t sent = 0;
    while (sent < response.size()) {
        ssize_t written =
            ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
        if (written <= 0) {
            return;
        }
        sent += static_cast<std::size_t>(written);
    }
}

}  // namespace relay
