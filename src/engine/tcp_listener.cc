// tcp_listener.cc -- SO_REUSEPORT listening sockets and multishot accept.
#include "relay/engine/tcp_listener.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "relay/base/log.h"

namespace relay::engine {
namespace {

// 40 x 50 ms: a port in use is reported after 2 s.
constexpr int address_release_attempts_max = 40;

}  // namespace

Result<std::unique_ptr<TcpListener>> TcpListener::open(Reactor& reactor,
                                                       const SocketAddress& address, int backlog,
                                                       AcceptHandler handler) {
    auto fd = bind_socket(address, backlog);
    if (!fd) {
        return fd.error();
    }
    return adopt(reactor, fd.value(), std::move(handler));
}

std::unique_ptr<TcpListener> TcpListener::adopt(Reactor& reactor, int fd, AcceptHandler handler) {
    RELAY_ASSERT(fd >= 0);
    std::unique_ptr<TcpListener> listener(new TcpListener(reactor, std::move(handler)));
    listener->fd_ = fd;
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) == 0) {
        listener->address_ =
            SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), bound_length);
    }
    listener->arm();
    return listener;
}

Result<int> TcpListener::bind_socket(const SocketAddress& address, int backlog) {
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return system_error("cannot create a socket for " + address.to_string(), errno);
    }
    auto fail = [&](int error) {
        ::close(fd);
        return system_error("cannot listen on " + address.to_string(), error);
    };
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        return fail(errno);
    }
    if (address.family() == AF_INET6) {
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    // Accepted sockets inherit TCP_NODELAY from the listening socket: no setsockopt per
    // connection (a sender that opens a connection per message pays every syscall per message).
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::bind(fd, address.get(), address.length()) < 0 || ::listen(fd, backlog) < 0) {
        return fail(errno);
    }
    return fd;
}

Status TcpListener::check_available(const SocketAddress& address) {
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return system_error("cannot create a socket for " + address.to_string(), errno);
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT is fine
    if (address.family() == AF_INET6) {
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    // A relayd killed a moment ago may still hold the address: the kernel tears its io_uring
    // requests (a multishot accept holds the listening socket) down after the process is gone.
    // Its successor, which now checks before recovering the spool, gives that a moment.
    int bound = -1;
    int error = 0;
    for (int attempt = 0; attempt < address_release_attempts_max; ++attempt) {
        bound = ::bind(fd, address.get(), address.length());
        error = errno;
        if (bound == 0 || error != EADDRINUSE) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::close(fd);
    if (bound != 0) {
        if (error == EADDRINUSE) {
            return Error{"cannot listen on " + address.to_string() +
                         ": the address is already in use (another relayd or another server)"};
        }
        return system_error("cannot listen on " + address.to_string(), error);
    }
    return {};
}

TcpListener::~TcpListener() {
    RELAY_ASSERT(!accept_in_flight_);
    close_socket();
}

void TcpListener::arm() {
    io_uring_sqe* sqe = reactor_.prepare(&accept_operation_);
    io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    accept_in_flight_ = true;
}

void TcpListener::on_accept(int result, std::uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) {
        accept_in_flight_ = false;
    }
    if (result >= 0) {
        int fd = result;
        if (stopping_) {
            ::close(fd);
        } else {
            sockaddr_storage peer{};
            socklen_t peer_length = sizeof peer;
            if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) < 0) {
                ::close(fd);  // the client is already gone
            } else {
                handler_(fd, SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&peer),
                                                          peer_length));
            }
        }
    } else if (result != -ECANCELED && result != -EINTR) {
        // EMFILE/ENFILE/ENOMEM: the multishot ends; keep listening, the next accept may succeed.
        log::warning("accept on {} failed: {}", address_.to_string(),
                     system_error("accept", result).message);
    }
    if (!accept_in_flight_) {
        if (stopping_) {
            close_socket();
        } else if (result < 0) {
            // Out of descriptors or memory: retrying at once would spin on the same error.
            accept_in_flight_ = true;  // the timer holds the place of the accept operation
            reactor_.timers().add(reactor_.now() + std::chrono::milliseconds(100), [this] {
                accept_in_flight_ = false;
                if (stopping_) {
                    close_socket();
                } else {
                    arm();
                }
            });
        } else {
            arm();
        }
    }
}

void TcpListener::stop() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    if (accept_in_flight_ && fd_ >= 0) {
        io_uring_sqe* sqe = reactor_.prepare_detached();
        io_uring_prep_cancel(sqe, &accept_operation_, 0);
    } else {
        close_socket();
    }
}

void TcpListener::close_socket() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

}  // namespace relay::engine
