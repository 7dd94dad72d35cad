// worker.cc -- loadgen's io_uring loop (see worker.h for the loop and the user_data layout).
//
// Untrusted bytes: received into each Session's buffer, never read here. Thread: the worker's.
// Must never: close a descriptor while a connect, recv or send on it is still in flight (the
// session's buffers would be freed under the kernel), or dispatch while reaping completions.
#include "worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "relay/base/assert.h"

namespace loadgen {
namespace {

constexpr std::int64_t timer_interval_ns = 10'000'000;
constexpr std::int64_t record_flush_interval_ns = 100'000'000;
constexpr std::uint32_t backoff_ms_min = 10;
constexpr std::uint32_t backoff_ms_max = 250;
constexpr unsigned ring_entries_max = 32768;

}  // namespace

std::int64_t monotonic_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

Worker::Worker(Shared& shared, WorkerContext& context, std::uint32_t session_count)
    : shared_(shared), context_(context) {
    sessions_.reserve(session_count);
    for (std::uint32_t i = 0; i < session_count; ++i) {
        sessions_.push_back(std::make_unique<Session>(shared, context));
    }
    eof_pending_.assign(session_count, false);
    completions_.reserve(static_cast<std::size_t>(session_count) * 4 + 64);
}

Worker::~Worker() {
    for (auto& session : sessions_) {
        if (session->io.fd >= 0) {
            ::close(session->io.fd);
        }
    }
    if (ring_ready_) {
        io_uring_queue_exit(&ring_);
    }
}

std::uint64_t Worker::encode(Op op, std::uint32_t slot, std::uint32_t generation) {
    return static_cast<std::uint64_t>(op) | static_cast<std::uint64_t>(slot) << 8 |
           static_cast<std::uint64_t>(generation & 0xffffff) << 40;
}

relay::Status Worker::setup_ring() {
    unsigned wanted = static_cast<unsigned>(sessions_.size()) * 4 + 16;
    unsigned entries = std::bit_ceil(std::clamp(wanted, 64U, ring_entries_max));
    io_uring_params params{};
    // One thread submits and reaps: let the kernel run completion work only when we ask.
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int status = io_uring_queue_init_params(entries, &ring_, &params);
    if (status == -EINVAL) {
        params = {};
        status = io_uring_queue_init_params(entries, &ring_, &params);
    }
    if (status < 0) {
        return relay::Error{std::string("cannot create an io_uring: ") + std::strerror(-status) +
                            " (loadgen needs Linux 5.19 or later with io_uring enabled)"};
    }
    ring_ready_ = true;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) {
        return relay::Error{"cannot probe the io_uring operations (Linux 5.19 or later needed)"};
    }
    const std::pair<int, const char*> needed[] = {{IORING_OP_CONNECT, "CONNECT"},
                                                  {IORING_OP_SENDMSG, "SENDMSG"},
                                                  {IORING_OP_RECV, "RECV"},
                                                  {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
                                                  {IORING_OP_CLOSE, "CLOSE"}};
    std::string missing;
    for (const auto& [op, name] : needed) {
        if (!io_uring_opcode_supported(probe, op)) {
            missing += std::string(missing.empty() ? "" : ", ") + name;
        }
    }
    io_uring_free_probe(probe);
    if (!missing.empty()) {
        return relay::Error{"this kernel's io_uring lacks " + missing +
                            " (Linux 5.19 or later needed)"};
    }
    return {};
}

io_uring_sqe* Worker::next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        (void)io_uring_submit(&ring_);  // the queue is full: hand it to the kernel first
        sqe = io_uring_get_sqe(&ring_);
    }
    RELAY_ASSERT(sqe != nullptr);
    return sqe;
}

relay::Status Worker::run() {
    relay::Status ring = setup_ring();
    if (!ring.ok()) {
        return ring;
    }
    std::int64_t now_ns = monotonic_ns();
    last_timer_check_ns_ = now_ns;
    last_flush_ns_ = now_ns;
    for (std::uint32_t slot = 0; slot < sessions_.size(); ++slot) {
        open_connection(slot, now_ns);
    }
    while (finished_count_ < sessions_.size()) {
        __kernel_timespec wait{0, timer_interval_ns};
        io_uring_cqe* cqe = nullptr;
        int status = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &wait, nullptr);
        if (status < 0 && status != -ETIME && status != -EINTR && status != -EAGAIN &&
            status != -EBUSY) {
            return relay::Error{std::string("io_uring_enter failed: ") + std::strerror(-status)};
        }
        unsigned head = 0;
        unsigned count = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            completions_.push_back({cqe->user_data, cqe->res});
            ++count;
        }
        io_uring_cq_advance(&ring_, count);
        now_ns = monotonic_ns();
        for (const Completion& completion : completions_) {
            dispatch(completion, now_ns);
        }
        completions_.clear();
        if (now_ns - last_timer_check_ns_ >= timer_interval_ns) {
            check_timers(now_ns);
        }
    }
    (void)io_uring_submit(&ring_);  // the last closes
    context_.stats.record_errors += static_cast<std::uint64_t>(context_.recorder.flush());
    context_.accepted_published.store(context_.stats.accepted, std::memory_order_relaxed);
    return {};
}

void Worker::open_connection(std::uint32_t slot, std::int64_t now_ns) {
    Session& session = *sessions_[slot];
    std::uint64_t index = 0;
    if (!session.has_reserved_message()) {
        if (!shared_.claim(now_ns, index)) {
            finish(session);
            return;
        }
        session.reserve_message(index);
    }
    const Options& options = shared_.options;
    int fd = ::socket(options.server_address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
        ++context_.stats.connect_errors;
        after_close(slot, CloseKind::error, now_ns);
        return;
    }
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    session.io.fd = fd;
    ++session.io.generation;
    session.io.cancel_sent = false;
    session.io.backoff_until_ns = 0;
    eof_pending_[slot] = false;
    session.start_connection(now_ns);
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&options.server_address),
                          options.server_address_size);
    io_uring_sqe_set_data64(sqe, encode(Op::connect, slot, session.io.generation));
    ++session.io.ops_in_flight;
}

void Worker::dispatch(const Completion& completion, std::int64_t now_ns) {
    auto op = static_cast<Op>(completion.user_data & 0xff);
    auto slot = static_cast<std::uint32_t>((completion.user_data >> 8) & 0xffffffff);
    auto generation = static_cast<std::uint32_t>(completion.user_data >> 40);
    if (op == Op::cancel || op == Op::close) {
        return;  // nothing waits for these
    }
    RELAY_ASSERT(slot < sessions_.size());
    Session& session = *sessions_[slot];
    // Every connect, recv and send completes before its descriptor is closed.
    RELAY_ASSERT(generation == (session.io.generation & 0xffffff));
    RELAY_ASSERT(session.io.ops_in_flight > 0);
    --session.io.ops_in_flight;
    switch (op) {
        case Op::connect:
            if (!session.wants_close()) {
                completion.result < 0 ? session.on_connect_failed(now_ns)
                                      : session.on_connected(now_ns);
            }
            break;
        case Op::receive:
            on_receive(slot, completion.result, now_ns);
            break;
        case Op::send:
            on_send(slot, completion.result, now_ns);
            break;
        default:
            RELAY_ASSERT(false);
    }
    drive(slot, now_ns);
}

void Worker::on_receive(std::uint32_t slot, int result, std::int64_t now_ns) {
    Session& session = *sessions_[slot];
    session.io.receive_in_flight = false;
    session.on_receive_ended();
    if (session.wants_close()) {
        return;
    }
    if (result > 0) {
        session.on_received(static_cast<std::size_t>(result), now_ns);
        return;
    }
    if (session.io.send_in_flight) {
        eof_pending_[slot] = true;  // read the replies that came with it once the send is done
        return;
    }
    session.on_lost(result == 0 ? Loss::end_of_stream : Loss::reset, now_ns);
}

void Worker::on_send(std::uint32_t slot, int result, std::int64_t now_ns) {
    Session& session = *sessions_[slot];
    session.io.send_in_flight = false;
    if (session.wants_close()) {
        return;
    }
    if (result <= 0) {
        session.on_lost(Loss::send_failed, now_ns);
        return;
    }
    session.on_sent(static_cast<std::size_t>(result), now_ns);
    if (eof_pending_[slot]) {
        session.on_lost(Loss::end_of_stream, now_ns);
    }
}

// Submits what the session wants next: its output, a receive, or the end of the connection.
void Worker::drive(std::uint32_t slot, std::int64_t now_ns) {
    Session& session = *sessions_[slot];
    if (session.io.finished || session.io.fd < 0) {
        return;
    }
    if (session.wants_close()) {
        tear_down(slot, now_ns);
        return;
    }
    if (session.wants_send()) {
        io_uring_sqe* sqe = next_sqe();
        io_uring_prep_sendmsg(sqe, session.io.fd, session.send_message(),
                              MSG_NOSIGNAL | MSG_WAITALL);
        io_uring_sqe_set_data64(sqe, encode(Op::send, slot, session.io.generation));
        session.io.send_in_flight = true;
        ++session.io.ops_in_flight;
    }
    if (session.connected() && !session.io.receive_in_flight && !eof_pending_[slot]) {
        std::span<char> space = session.receive_space();
        if (!space.empty()) {
            io_uring_sqe* sqe = next_sqe();
            io_uring_prep_recv(sqe, session.io.fd, space.data(), space.size(), 0);
            io_uring_sqe_set_data64(sqe, encode(Op::receive, slot, session.io.generation));
            session.io.receive_in_flight = true;
            ++session.io.ops_in_flight;
        }
    }
}

void Worker::tear_down(std::uint32_t slot, std::int64_t now_ns) {
    Session& session = *sessions_[slot];
    if (session.io.ops_in_flight > 0) {
        if (!session.io.cancel_sent) {
            io_uring_sqe* sqe = next_sqe();
            io_uring_prep_cancel_fd(sqe, session.io.fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, encode(Op::cancel, slot, session.io.generation));
            session.io.cancel_sent = true;
        }
        return;  // the last completion calls drive, which comes back here
    }
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_close(sqe, session.io.fd);
    io_uring_sqe_set_data64(sqe, encode(Op::close, slot, session.io.generation));
    session.io.fd = -1;
    CloseKind kind = session.close_kind();
    session.on_closed();
    if (kind != CloseKind::normal) {
        // The server may be going down: get the records of what it acknowledged onto disk.
        context_.stats.record_errors += static_cast<std::uint64_t>(context_.recorder.flush());
        last_flush_ns_ = now_ns;
    }
    after_close(slot, kind, now_ns);
}

void Worker::after_close(std::uint32_t slot, CloseKind kind, std::int64_t now_ns) {
    Session& session = *sessions_[slot];
    if (shared_.abort.load(std::memory_order_relaxed) || shared_.stop.load() ||
        (!session.has_reserved_message() && !shared_.has_work(now_ns))) {
        finish(session);
        return;
    }
    if (kind == CloseKind::normal) {
        session.io.backoff_ms = 0;
        open_connection(slot, now_ns);
        return;
    }
    session.io.backoff_ms = std::clamp(session.io.backoff_ms * 2, backoff_ms_min, backoff_ms_max);
    session.io.backoff_until_ns =
        now_ns + static_cast<std::int64_t>(session.io.backoff_ms) * 1'000'000;
}

void Worker::finish(Session& session) {
    if (!session.io.finished) {
        session.io.finished = true;
        ++finished_count_;
    }
}

void Worker::check_timers(std::int64_t now_ns) {
    last_timer_check_ns_ = now_ns;
    const bool abort = shared_.abort.load(std::memory_order_relaxed);
    for (std::uint32_t slot = 0; slot < sessions_.size(); ++slot) {
        Session& session = *sessions_[slot];
        if (session.io.finished) {
            continue;
        }
        if (session.io.fd < 0) {
            if (abort || shared_.stop.load(std::memory_order_relaxed) ||
                (!session.has_reserved_message() && !shared_.has_work(now_ns))) {
                finish(session);
            } else if (now_ns >= session.io.backoff_until_ns) {
                open_connection(slot, now_ns);
            }
            continue;
        }
        if (session.wants_close()) {
            continue;  // tearing down already
        }
        if (abort) {
            session.on_lost(Loss::aborted, now_ns);
        } else if (now_ns >= session.deadline_ns()) {
            session.on_lost(Loss::timeout, now_ns);
        } else {
            continue;
        }
        drive(slot, now_ns);
    }
    context_.accepted_published.store(context_.stats.accepted, std::memory_order_relaxed);
    if (context_.recorder.has_pending() && now_ns - last_flush_ns_ >= record_flush_interval_ns) {
        context_.stats.record_errors += static_cast<std::uint64_t>(context_.recorder.flush());
        last_flush_ns_ = now_ns;
    }
}

}  // namespace loadgen
