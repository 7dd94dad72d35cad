// tcp_listener.h -- a listening socket on one worker, accepting with multishot accept.
//
// Every worker opens its own socket on the same address with SO_REUSEPORT, so the kernel spreads
// new connections over the workers and no accept lock is shared between threads.
//
// Thread: one worker. The socket is created synchronously at start-up (bind/listen never block);
// accepting goes through the ring.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "relay/base/result.h"
#include "relay/engine/operation.h"
#include "relay/engine/reactor.h"
#include "relay/engine/socket_address.h"

namespace relay::engine {

class TcpListener {
  public:
    // Called with each accepted socket (non-blocking, close-on-exec, TCP_NODELAY set); the
    // callee owns the descriptor.
    using AcceptHandler = std::function<void(int fd, const SocketAddress& peer)>;

    static Result<std::unique_ptr<TcpListener>> open(Reactor& reactor, const SocketAddress& address,
                                                     int backlog, AcceptHandler handler);
    // Accepts on a socket made by `bind_socket` (the listener owns it from here on).
    static std::unique_ptr<TcpListener> adopt(Reactor& reactor, int fd, AcceptHandler handler);

    // A listening SO_REUSEPORT socket (non-blocking, close-on-exec) for one worker, made before
    // the worker exists: relayd binds privileged ports as root, then drops to its user before
    // any worker thread starts. Start-up only (blocking is fine); the caller owns the descriptor.
    static Result<int> bind_socket(const SocketAddress& address, int backlog);
    ~TcpListener();

    // SO_REUSEPORT would let a second server join an address another one listens on and split
    // its connections: before the workers bind, check with a plain bind that nobody is there.
    // Start-up only (blocking is fine).
    static Status check_available(const SocketAddress& address);
    TcpListener(const TcpListener&) = delete;
    TcpListener& operator=(const TcpListener&) = delete;

    // Stops accepting. The listener may be destroyed once `stopped()`; until then the accept
    // operation may still complete.
    void stop();
    bool stopped() const { return !accept_in_flight_ && fd_ < 0; }
    const SocketAddress& address() const { return address_; }

  private:
    TcpListener(Reactor& reactor, AcceptHandler handler)
        : reactor_(reactor), handler_(std::move(handler)) {}
    void arm();
    void on_accept(int result, std::uint32_t flags);
    void close_socket();

    Reactor& reactor_;
    AcceptHandler handler_;
    SocketAddress address_;
    int fd_ = -1;
    bool accept_in_flight_ = false;
    bool stopping_ = false;
    MemberOperation<TcpListener, &TcpListener::on_accept> accept_operation_{this};
};

}  // namespace relay::engine
