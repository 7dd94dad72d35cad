// reactor.cc -- ring setup, feature probing and the worker loop.
#include "relay/engine/reactor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "relay/base/log.h"

namespace relay::engine {
namespace {

constexpr std::uint16_t receive_buffer_group = 1;
constexpr auto wait_cap = std::chrono::milliseconds(500);
// Log lines are written in batches: a write to a log file cannot complete inline (the ring hands
// it to an io-wq thread), so a write per loop turn cost a thread wake-up every few messages when
// clients open a connection per message. Lines wait at most this long, or until this many bytes
// have gathered; a fatal line is written at once.
constexpr auto log_batch_delay = std::chrono::milliseconds(50);
constexpr std::size_t log_batch_bytes = 32 * 1024;

struct RequiredOpcode {
    int opcode;
    const char* name;
};

constexpr RequiredOpcode required_opcodes[] = {
    {IORING_OP_ACCEPT, "ACCEPT"},
    {IORING_OP_RECV, "RECV"},
    {IORING_OP_SEND, "SEND"},
    {IORING_OP_SENDMSG, "SENDMSG"},
    {IORING_OP_READ, "READ"},
    {IORING_OP_WRITE, "WRITE"},
    {IORING_OP_FSYNC, "FSYNC"},
    {IORING_OP_OPENAT, "OPENAT"},
    {IORING_OP_CONNECT, "CONNECT"},
    {IORING_OP_POLL_ADD, "POLL_ADD"},
    {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_SOCKET, "SOCKET"},
};

Status probe_opcodes(io_uring* ring) {
    io_uring_probe* probe = io_uring_get_probe_ring(ring);
    if (probe == nullptr) {
        return Error{"cannot probe io_uring opcodes (Linux 6.1 or newer is needed)"};
    }
    std::string missing;
    for (const RequiredOpcode& required : required_opcodes) {
        if (!io_uring_opcode_supported(probe, required.opcode)) {
            missing += missing.empty() ? "" : ", ";
            missing += required.name;
        }
    }
    io_uring_free_probe(probe);
    if (!missing.empty()) {
        return Error{"this kernel's io_uring lacks " + missing + " (Linux 6.1 or newer is needed)"};
    }
    return {};
}

}  // namespace

Result<std::unique_ptr<Reactor>> Reactor::create(int index, const ReactorOptions& options) {
    std::unique_ptr<Reactor> reactor(new Reactor());
    Status status = reactor->initialize(index, options);
    if (!status) {
        return status.error();
    }
    return reactor;
}

Status Reactor::initialize(int index, const ReactorOptions& options) {
    index_ = index;
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                   IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    params.cq_entries = options.ring_entries * 4;  // multishot operations post many completions
    int result = io_uring_queue_init_params(options.ring_entries, &ring_, &params);
    if (result < 0) {
        return system_error(
            "cannot create an io_uring with SINGLE_ISSUER|DEFER_TASKRUN (Linux 6.1 or newer is "
            "needed; check also kernel.io_uring_disabled)",
            result);
    }
    ring_ready_ = true;
    if (!(params.features & IORING_FEAT_EXT_ARG)) {
        return Error{"this kernel's io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11+ is needed)"};
    }
    Status probed = probe_opcodes(&ring_);
    if (!probed) {
        return probed;
    }
    auto buffers = BufferRing::create(&ring_, receive_buffer_group, options.receive_buffer_count,
                                      options.receive_buffer_bytes);
    if (!buffers) {
        return buffers.error();
    }
    buffers_ = std::move(buffers.value());

    inbox_fd_ = eventfd(0, EFD_CLOEXEC);
    if (inbox_fd_ < 0) {
        return system_error("cannot create an eventfd", errno);
    }
    arm_inbox();
    return {};
}

Reactor::~Reactor() {
    buffers_.reset();  // unregisters while the ring still exists
    if (ring_ready_) {
        io_uring_queue_exit(&ring_);
    }
    if (inbox_fd_ >= 0) {
        ::close(inbox_fd_);
    }
}

io_uring_sqe* Reactor::prepare(Operation* operation) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        submit_queued();
        sqe = io_uring_get_sqe(&ring_);
        RELAY_ASSERT(sqe != nullptr);
    }
    io_uring_sqe_set_data(sqe, operation);
    return sqe;
}

void Reactor::reserve(unsigned entries) {
    RELAY_ASSERT(entries <= capacity());
    if (io_uring_sq_space_left(&ring_) < entries) {
        submit_queued();
    }
    RELAY_ASSERT(io_uring_sq_space_left(&ring_) >= entries);
}

// Hands every queued entry to the kernel. A full completion queue makes the kernel refuse new
// submissions (EBUSY): the waiting completions are then moved to `stashed_` (never handled
// here: the caller may be inside a handler) and the submit is tried again.
void Reactor::submit_queued() {
    constexpr int attempts_max = 64;
    for (int attempt = 0; attempt < attempts_max; ++attempt) {
        int result = io_uring_submit(&ring_);
        if (result >= 0 && io_uring_sq_ready(&ring_) == 0) {
            return;
        }
        if (result < 0 && result != -EBUSY && result != -EAGAIN && result != -EINTR) {
            // EINVAL, EFAULT, EBADF...: a malformed entry, a bug in relay.
            log::fatal("worker {}: io_uring_submit failed: {}", index_,
                       system_error("submit", result).message);
        }
        stash_completions();
    }
    log::fatal("worker {}: the kernel kept refusing io_uring submissions", index_);
}

void Reactor::stash_completions() {
    (void)io_uring_get_events(&ring_);  // runs deferred task work, posting completions
    take_completions(stashed_);
}

// Moves every completion on the ring into `into` (those of detached entries are dropped).
void Reactor::take_completions(std::vector<Reaped>& into) {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        auto* operation = static_cast<Operation*>(io_uring_cqe_get_data(cqe));
        if (operation != nullptr) {
            into.push_back(Reaped{operation, cqe->res, cqe->flags});
        }
    }
    io_uring_cq_advance(&ring_, seen);
}

io_uring_sqe* Reactor::prepare_detached() {
    io_uring_sqe* sqe = prepare(nullptr);
    io_uring_sqe_set_data64(sqe, 0);
    return sqe;
}

void Reactor::defer(std::function<void()> task) {
    deferred_.push_back(std::move(task));
}

void Reactor::post(std::function<void()> task) {
    {
        std::lock_guard lock(inbox_mutex_);
        inbox_.push_back(std::move(task));
    }
    std::uint64_t one = 1;
    // eventfd writes do not block unless the counter would overflow, which cannot happen here.
    ssize_t written = ::write(inbox_fd_, &one, sizeof one);
    (void)written;
}

void Reactor::arm_inbox() {
    io_uring_sqe* sqe = prepare(&inbox_operation_);
    io_uring_prep_read(sqe, inbox_fd_, &inbox_counter_, sizeof inbox_counter_, 0);
}

void Reactor::on_inbox(int result, std::uint32_t) {
    if (result < 0 && result != -EINTR && result != -EAGAIN) {
        log::error("worker {}: inbox read failed: {}", index_, result);
    }
    std::vector<std::function<void()>> tasks;
    {
        std::lock_guard lock(inbox_mutex_);
        tasks.swap(inbox_);
    }
    for (auto& task : tasks) {
        deferred_.push_back(std::move(task));
    }
    arm_inbox();
}

void Reactor::run_tasks() {
    // Tasks may defer more tasks; bound the rounds so that a task that re-defers itself forever
    // cannot starve the ring.
    for (int round = 0; round < 8 && !deferred_.empty(); ++round) {
        std::vector<std::function<void()>> tasks;
        tasks.swap(deferred_);
        for (auto& task : tasks) {
            task();
        }
    }
}

void Reactor::flush_log() {
    if (log_in_flight_ || stopping_) {
        return;  // when stopping, run() writes what is left itself, after the loop
    }
    std::size_t pending_bytes = log::pending_bytes();
    if (pending_bytes == 0) {
        log_due_ = {};
        return;
    }
    if (log_due_ == Clock::time_point{}) {
        log_due_ = now_ + log_batch_delay;
    }
    if (pending_bytes < log_batch_bytes && now_ < log_due_) {
        return;
    }
    log_due_ = {};
    std::string pending = log::take_pending();
    log_writing_ = std::move(pending);
    log_written_ = 0;
    log_in_flight_ = true;
    io_uring_sqe* sqe = prepare(&log_operation_);
    io_uring_prep_write(sqe, STDERR_FILENO, log_writing_.data(),
                        static_cast<unsigned>(log_writing_.size()), static_cast<std::uint64_t>(-1));
}

void Reactor::on_log_written(int result, std::uint32_t) {
    log_in_flight_ = false;
    if (result > 0 && static_cast<std::size_t>(result) < log_writing_.size()) {
        // A short write to a pipe: put the rest first in line for the next flush.
        std::string rest = log_writing_.substr(static_cast<std::size_t>(result));
        log::put_back_pending(rest);
    }
}

void Reactor::wait_and_dispatch() {
    __kernel_timespec timeout{};
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(wait_cap);
    if (!deferred_.empty() || !stashed_.empty()) {
        wait = std::chrono::nanoseconds(0);
    } else {
        std::optional<Clock::time_point> deadline = timers_.next_deadline();
        if (log_due_ != Clock::time_point{} && !log_in_flight_ &&
            (!deadline || log_due_ < *deadline)) {
            deadline = log_due_;
        }
        if (deadline) {
            auto until =
                std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - Clock::now());
            wait = std::clamp(until, std::chrono::nanoseconds(0), wait);
        }
    }
    timeout.tv_sec = wait.count() / 1000000000;
    timeout.tv_nsec = wait.count() % 1000000000;
    io_uring_cqe* cqe = nullptr;
    int result = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr);
    if (result < 0 && result != -ETIME && result != -EINTR && result != -EBUSY) {
        log::error("worker {}: io_uring wait failed: {}", index_, result);
    }

    reaped_.clear();
    reaped_.swap(stashed_);  // taken off the ring earlier: they come first
    take_completions(reaped_);
    now_ = Clock::now();
    for (const Reaped& reaped : reaped_) {
        reaped.operation->complete(reaped.result, reaped.flags);
    }
}

void Reactor::run() {
    stopping_ = false;
    log::set_thread_deferred(true);
    while (!stopping_) {
        wait_and_dispatch();
        timers_.run_expired(now_);
        run_tasks();
        flush_log();
    }
    // The last lines (often the most telling ones: why the loop stopped) must not be lost: a
    // write already on the ring is waited for, so that it neither vanishes with the ring nor
    // lands after the lines still pending, which leaving deferred mode then writes at once.
    while (log_in_flight_) {
        wait_and_dispatch();
    }
    log::set_thread_deferred(false);
}

}  // namespace relay::engine
