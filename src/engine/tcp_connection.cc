// tcp_connection.cc -- receive/send/close state of one TCP connection.
#include "relay/engine/tcp_connection.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "relay/base/log.h"

namespace relay::engine {

TcpConnection::TcpConnection(Reactor& reactor, int fd, const SocketAddress& peer,
                             ConnectionHandler& handler)
    : reactor_(reactor), handler_(handler), peer_(peer), fd_(fd) {}

TcpConnection::TcpConnection(Reactor& reactor, ConnectionHandler& handler)
    : reactor_(reactor), handler_(handler) {}

TcpConnection::~TcpConnection() {
    RELAY_ASSERT(!receive_in_flight_ && !send_in_flight_ && !connect_in_flight_);
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void TcpConnection::connect(const SocketAddress& peer, const SocketAddress* local) {
    RELAY_ASSERT(fd_ < 0 && !closing_);
    peer_ = peer;
    fd_ = ::socket(peer.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
        fail_connect(errno);
        return;
    }
    int one = 1;
    (void)setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (local != nullptr && ::bind(fd_, local->get(), local->length()) < 0) {
        fail_connect(errno);
        return;
    }
    io_uring_sqe* sqe = reactor_.prepare(&connect_operation_);
    io_uring_prep_connect(sqe, fd_, peer_.get(), peer_.length());
    connect_in_flight_ = true;
}

void TcpConnection::fail_connect(int error) {
    // Reported on the next turn: the caller is still inside connect().
    closing_ = true;
    reactor_.defer([this, error] {
        handler_.on_connected(error);
        maybe_finish_close();
    });
}

void TcpConnection::on_connect_completion(int result, std::uint32_t) {
    connect_in_flight_ = false;
    if (closing_) {
        maybe_finish_close();
        return;
    }
    if (result < 0) {
        closing_ = true;
        handler_.on_connected(-result);
        shut_down();
        maybe_finish_close();
        return;
    }
    handler_.on_connected(0);
}

void TcpConnection::start_receiving() {
    want_receive_ = true;
    if (!receive_in_flight_ && !closing_ && fd_ >= 0) {
        arm_receive();
    }
}

void TcpConnection::pause_receiving() {
    want_receive_ = false;
    if (receive_in_flight_) {
        io_uring_sqe* sqe = reactor_.prepare_detached();
        io_uring_prep_cancel(sqe, &receive_operation_, 0);
    }
}

void TcpConnection::refresh_receive() {
    if (receive_in_flight_ && !receive_direct_ && want_receive_) {
        io_uring_sqe* sqe = reactor_.prepare_detached();
        io_uring_prep_cancel(sqe, &receive_operation_, 0);  // re-armed when the cancel is in
    }
}

void TcpConnection::arm_receive() {
    ReceiveSpace space = handler_.receive_space();
    io_uring_sqe* sqe = reactor_.prepare(&receive_operation_);
    if (!space.bytes.empty()) {
        // Straight into the handler's memory (a message's chunk buffer): no copy after the
        // kernel's. One receive at a time; re-armed after each completion.
        direct_space_ = std::move(space);
        receive_direct_ = true;
        io_uring_prep_recv(sqe, fd_, direct_space_.bytes.data(), direct_space_.bytes.size(), 0);
    } else {
        receive_direct_ = false;
        io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = reactor_.buffers().group();
    }
    receive_in_flight_ = true;
}

void TcpConnection::on_receive_completion(int result, std::uint32_t flags) {
    bool direct = receive_direct_;
    if (!(flags & IORING_CQE_F_MORE)) {
        receive_in_flight_ = false;
    }
    ReceiveSpace space;  // the direct receive's memory, alive through the handler's call
    if (direct && !receive_in_flight_) {
        space = std::move(direct_space_);
        direct_space_ = {};
        receive_direct_ = false;
    }
    if (result > 0) {
        if (direct) {
            if (!closing_) {
                handler_.on_receive(space.bytes.first(static_cast<std::size_t>(result)));
            }
        } else {
            RELAY_ASSERT(flags & IORING_CQE_F_BUFFER);
            auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
            if (!closing_) {
                handler_.on_receive(
                    reactor_.buffers().buffer(id, static_cast<std::size_t>(result)));
            }
            reactor_.buffers().recycle(id);
        }
    } else if (result == -ENOBUFS) {
        // Every receive buffer of this worker is in use: try again shortly. TCP holds the data.
        if (!closing_ && want_receive_ && !receive_in_flight_) {
            receive_in_flight_ = true;  // the timer stands in for the receive until it re-arms
            reactor_.timers().add(reactor_.now() + std::chrono::milliseconds(1), [this] {
                receive_in_flight_ = false;
                if (!closing_ && want_receive_) {
                    arm_receive();
                } else {
                    maybe_finish_close();
                }
            });
        }
        return;
    } else if (result != -ECANCELED) {
        // End of stream (0) or an error. ECANCELED is only ever our own cancel (a pause, a
        // switch to a direct receive, the close), never the peer's doing: whatever wants
        // reading says by now is what happens next.
        if (!closing_ && !reported_disconnect_) {
            reported_disconnect_ = true;
            handler_.on_disconnect(result == 0 ? 0 : -result);
        }
    }
    if (!receive_in_flight_) {
        if (closing_) {
            maybe_finish_close();
        } else if (want_receive_ && !reported_disconnect_) {
            arm_receive();
        }
    }
}

void TcpConnection::queue_shared(std::shared_ptr<const void> owner, std::string_view bytes) {
    if (bytes.empty()) {
        return;
    }
    seal_queued();
    Piece& piece = waiting_.emplace_back();
    piece.owner = std::move(owner);
    piece.shared = bytes.data();
    piece.size = bytes.size();
    pieces_bytes_ += bytes.size();
}

// Turns what the handler appended into a piece of its own (its buffer moves, no copy).
void TcpConnection::seal_queued() {
    if (queued_.empty()) {
        return;
    }
    Piece& piece = waiting_.emplace_back();
    piece.size = queued_.size();
    piece.own = std::move(queued_);
    pieces_bytes_ += piece.size;
    queued_.clear();
}

void TcpConnection::drop_pieces() {
    sending_.clear();
    waiting_.clear();
    front_ = 0;
    pieces_bytes_ = 0;
    front_sent_ = 0;
}

void TcpConnection::flush() {
    if (!send_in_flight_ && unsent_bytes() > 0 && fd_ >= 0 && !shut_down_) {
        start_send();
    }
}

void TcpConnection::start_send() {
    constexpr std::size_t vectors_max = 64;  // well below IOV_MAX
    RELAY_ASSERT(!send_in_flight_);
    seal_queued();
    for (Piece& piece : waiting_) {
        sending_.push_back(std::move(piece));
    }
    waiting_.clear();
    send_vectors_.clear();
    std::size_t skip = front_sent_;
    for (std::size_t index = front_; index < sending_.size(); ++index) {
        if (send_vectors_.size() == vectors_max) {
            break;
        }
        const Piece& piece = sending_[index];
        send_vectors_.push_back(iovec{const_cast<char*>(piece.data() + skip), piece.size - skip});
        skip = 0;
    }
    io_uring_sqe* sqe = reactor_.prepare(&send_operation_);
    if (send_vectors_.size() == 1) {
        // One piece (a reply, a command, a whole small message): a plain send costs the kernel
        // less than a sendmsg, which copies in a message header and an iovec array first.
        io_uring_prep_send(sqe, fd_, send_vectors_[0].iov_base, send_vectors_[0].iov_len,
                           MSG_NOSIGNAL);
    } else {
        send_message_ = msghdr{};
        send_message_.msg_iov = send_vectors_.data();
        send_message_.msg_iovlen = send_vectors_.size();
        io_uring_prep_sendmsg(sqe, fd_, &send_message_, MSG_NOSIGNAL);
    }
    send_in_flight_ = true;
}

void TcpConnection::on_send_completion(int result, std::uint32_t) {
    send_in_flight_ = false;
    if (result < 0) {
        drop_pieces();
        queued_.clear();
        if (!closing_ && !reported_disconnect_) {
            reported_disconnect_ = true;
            handler_.on_disconnect(-result);
        }
        maybe_finish_close();
        return;
    }
    sent_total_ += static_cast<std::uint64_t>(result);
    // Release what the kernel has taken, piece by piece.
    std::size_t taken = static_cast<std::size_t>(result);
    while (taken > 0) {
        RELAY_ASSERT(front_ < sending_.size());
        Piece& front = sending_[front_];
        std::size_t left = front.size - front_sent_;
        if (taken < left) {
            front_sent_ += taken;
            break;
        }
        taken -= left;
        pieces_bytes_ -= front.size;
        front_sent_ = 0;
        front = Piece{};  // releases the bytes now
        ++front_;
    }
    if (front_ == sending_.size()) {
        sending_.clear();  // keeps the capacity for the next sends
        front_ = 0;
    }
    if (unsent_bytes() > 0 && !shut_down_) {
        start_send();
        return;
    }
    if (closing_) {
        shut_down();
        maybe_finish_close();
        return;
    }
    handler_.on_sent();
}

void TcpConnection::close() {
    if (closing_) {
        return;
    }
    closing_ = true;
    want_receive_ = false;
    if (send_in_flight_) {
        return;  // on_send_completion finishes the close once the output is out
    }
    if (unsent_bytes() > 0 && fd_ >= 0 && !shut_down_) {
        start_send();
        return;
    }
    shut_down();
    maybe_finish_close();
}

void TcpConnection::abort() {
    closing_ = true;
    want_receive_ = false;
    queued_.clear();
    if (!send_in_flight_) {  // else the kernel still reads them: freed at the completion
        drop_pieces();
    }
    shut_down();
    maybe_finish_close();
}

void TcpConnection::shut_down() {
    if (shut_down_ || fd_ < 0) {
        return;
    }
    shut_down_ = true;
    // shutdown(2) ends the multishot receive and any send at once (their wait for readiness
    // wakes up, the receive with 0, the send with EPIPE); close(2) alone would not while the ring
    // still holds a reference to the socket. So no cancel is needed for them: one submission
    // less per connection. A connect still in flight is cancelled.
    (void)::shutdown(fd_, SHUT_RDWR);
    if (connect_in_flight_) {
        io_uring_sqe* sqe = reactor_.prepare_detached();
        io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
    }
}

void TcpConnection::maybe_finish_close() {
    if (!closing_ || closed_ || receive_in_flight_ || send_in_flight_ || connect_in_flight_) {
        return;
    }
    if (!shut_down_) {
        shut_down();
    }
    closed_ = true;
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    reactor_.defer([this] { handler_.on_closed(); });
}

}  // namespace relay::engine
