// tcp_connection.h -- one TCP connection on a worker: multishot receive, queued sends, close.
//
// Receiving uses multishot recv with the worker's provided buffers: the handler sees each
// received buffer once, during `on_receive`, and must copy what it keeps. Sending goes through
// an output queue of pieces handed to the kernel together (sendmsg): bytes appended to
// `output()` (copied: replies, commands, TLS records), and shared buffers queued by
// `queue_shared` (not copied: a message body read from the spool is sent from the very buffer
// it was read into; the connection holds the buffer's owner until the kernel has the bytes).
//
// Lifetime: the connection counts its operations in flight; after `close`, it shuts the socket
// down, waits for every completion, closes the descriptor and then calls `on_closed` (from a
// deferred task, never from inside another handler call). Only then may its owner destroy it.
//
// Thread: one worker. Never blocks.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/engine/operation.h"
#include "relay/engine/reactor.h"
#include "relay/engine/socket_address.h"

namespace relay::engine {

// Memory a handler offers for the next receive, instead of the worker's provided buffers;
// `owner` keeps it alive while the receive is in flight.
struct ReceiveSpace {
    std::shared_ptr<void> owner;
    std::span<char> bytes;
};

class ConnectionHandler {
  public:
    // Where the next bytes should be received: asked each time a receive is armed. Empty (the
    // default): into one of the worker's provided buffers, with a multishot receive.
    virtual ReceiveSpace receive_space() { return {}; }
    // Connected (outbound connections only; accepted ones start connected). `error` is 0 on
    // success, else an errno value and the connection is closing.
    virtual void on_connected(int error) { (void)error; }
    // Received bytes, valid only during the call; the handler may modify them in place.
    virtual void on_receive(std::span<char> bytes) = 0;
    // The peer closed (error 0) or the connection failed (errno). No more data will arrive.
    virtual void on_disconnect(int error) = 0;
    // Everything queued has been handed to the kernel.
    virtual void on_sent() {}
    // The descriptor is closed and no operation is in flight: the owner may destroy the
    // connection and the handler now.
    virtual void on_closed() = 0;

  protected:
    ~ConnectionHandler() = default;
};

class TcpConnection {
  public:
    // Adopts an accepted, connected socket.
    TcpConnection(Reactor& reactor, int fd, const SocketAddress& peer, ConnectionHandler& handler);
    // An outbound connection: `connect` starts it.
    TcpConnection(Reactor& reactor, ConnectionHandler& handler);
    ~TcpConnection();
    TcpConnection(const TcpConnection&) = delete;
    TcpConnection& operator=(const TcpConnection&) = delete;

    // Outbound: creates the socket and connects; `on_connected` reports the outcome.
    void connect(const SocketAddress& peer, const SocketAddress* local = nullptr);

    // Starts (or resumes) receiving. Receiving stops on EOF, error, close, or `pause_receiving`.
    void start_receiving();
    // Stops asking for data (back-pressure: the kernel buffers, then TCP flow control).
    void pause_receiving();
    // The handler now offers a receive space: a multishot receive in flight is cancelled, so
    // that the next bytes go straight into the space.
    void refresh_receive();
    bool receiving() const { return want_receive_; }

    // Queues bytes for sending (copied). `flush` starts the send; `send` does both.
    std::string& output() { return queued_; }
    // Queues `bytes` without copying them: `owner` keeps them valid until they are sent.
    void queue_shared(std::shared_ptr<const void> owner, std::string_view bytes);
    void flush();
    void send(std::string_view bytes) {
        queued_.append(bytes);
        flush();
    }
    std::size_t unsent_bytes() const { return queued_.size() + pieces_bytes_ - front_sent_; }
    // Bytes the kernel has taken so far: grows as long as the peer reads.
    std::uint64_t sent_bytes() const { return sent_total_; }

    // Sends what is queued, then closes. Safe to call more than once.
    void close();
    // Closes now, dropping unsent output.
    void abort();
    bool closing() const { return closing_; }

    int fd() const { return fd_; }
    const SocketAddress& peer() const { return peer_; }
    Reactor& reactor() { return reactor_; }

  private:
    void fail_connect(int error);
    void arm_receive();
    void start_send();
    void shut_down();
    void maybe_finish_close();
    void on_receive_completion(int result, std::uint32_t flags);
    void on_send_completion(int result, std::uint32_t flags);
    void on_connect_completion(int result, std::uint32_t flags);

    Reactor& reactor_;
    ConnectionHandler& handler_;
    SocketAddress peer_;
    int fd_ = -1;

    bool want_receive_ = false;
    bool receive_in_flight_ = false;
    bool receive_direct_ = false;  // the receive in flight goes into direct_space_
    ReceiveSpace direct_space_;
    bool send_in_flight_ = false;
    bool connect_in_flight_ = false;
    bool closing_ = false;
    bool shut_down_ = false;
    bool closed_ = false;
    bool reported_disconnect_ = false;

    // A piece of output: bytes the connection owns (`own`), or `size` bytes at `shared` that
    // `owner` keeps alive.
    struct Piece {
        std::string own;
        std::shared_ptr<const void> owner;
        const char* shared = nullptr;
        std::size_t size = 0;
        const char* data() const { return shared != nullptr ? shared : own.data(); }
    };
    void seal_queued();
    void drop_pieces();

    std::string queued_;  // appended to by the handler: the next piece
    // Pieces given to the kernel, unsent from `front_`. Never appended to while a send is in
    // flight (the kernel reads their bytes, and a piece's own bytes move with it): output
    // queued meanwhile waits in `waiting_`. Vectors, not deques: an idle connection holds no
    // allocation.
    std::vector<Piece> sending_;
    std::vector<Piece> waiting_;
    std::size_t front_ = 0;
    std::size_t pieces_bytes_ = 0;
    std::size_t front_sent_ = 0;  // bytes of sending_[front_] the kernel has taken
    std::uint64_t sent_total_ = 0;
    std::vector<iovec> send_vectors_;  // the pieces of the send in flight
    msghdr send_message_{};

    MemberOperation<TcpConnection, &TcpConnection::on_receive_completion> receive_operation_{this};
    MemberOperation<TcpConnection, &TcpConnection::on_send_completion> send_operation_{this};
    MemberOperation<TcpConnection, &TcpConnection::on_connect_completion> connect_operation_{this};
};

}  // namespace relay::engine
