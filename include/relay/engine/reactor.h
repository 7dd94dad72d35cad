// reactor.h -- one worker's event loop: an io_uring, its receive buffers, timers and inbox.
//
// Thread-per-core: each worker thread owns one Reactor and everything submitted through it.
// Objects that live on a worker are created, used and destroyed there; other threads reach a
// worker only through `post`, which queues a task and wakes the ring through an eventfd.
//
// The loop (`run`) submits, waits for completions or the next timer deadline, reaps the whole
// completion batch into a vector and only then dispatches it, so that a handler can submit,
// cancel or destroy freely without invalidating the walk over the completion queue. Then it runs
// expired timers, deferred tasks and posted tasks, and flushes the thread's log lines through the
// ring in batches (a worker never calls write(2) on its own).
//
// The ring is set up with SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1+); `create` probes the
// opcodes relay needs and fails with a message naming what is missing.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "relay/engine/buffer_ring.h"
#include "relay/engine/operation.h"
#include "relay/engine/timer_queue.h"

namespace relay::engine {

struct ReactorOptions {
    std::uint32_t ring_entries = 2048;
    std::uint32_t receive_buffer_count = 1024;  // a power of two
    std::uint32_t receive_buffer_bytes = 16384;
};

class Reactor {
  public:
    // Must be called on the thread that will run the reactor.
    static Result<std::unique_ptr<Reactor>> create(int index, const ReactorOptions& options);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    int index() const { return index_; }
    io_uring* ring() { return &ring_; }
    BufferRing& buffers() { return *buffers_; }
    TimerQueue& timers() { return timers_; }
    // The time at the start of the current loop iteration (cheap; good enough for timeouts).
    Clock::time_point now() const { return now_; }

    // A submission entry for `operation`; submits queued entries first when the queue is full.
    io_uring_sqe* prepare(Operation* operation);
    // Makes room for `entries` consecutive entries (at most `capacity()`), submitting what is
    // queued first if needed. A linked chain (IOSQE_IO_LINK) must be reserved whole before it is
    // prepared: links do not span submissions, so a chain cut by a full queue would let its
    // last entry (an fdatasync) run before the entries it was meant to wait for.
    void reserve(unsigned entries);
    // Entries the submission queue holds.
    unsigned capacity() const { return ring_.sq.ring_entries; }
    // A submission entry whose completion is ignored (cancellations).
    io_uring_sqe* prepare_detached();

    // Runs `task` on this worker after the current dispatch (this worker's thread only).
    void defer(std::function<void()> task);
    // Runs `task` on this worker, soon (any thread).
    void post(std::function<void()> task);

    // Runs until `stop` is called (from a task or handler on this worker).
    void run();
    void stop() { stopping_ = true; }

  private:
    struct Reaped {
        Operation* operation;
        int result;
        std::uint32_t flags;
    };

    Reactor() = default;
    Status initialize(int index, const ReactorOptions& options);
    void arm_inbox();
    void on_inbox(int result, std::uint32_t flags);
    void on_log_written(int result, std::uint32_t flags);
    void run_tasks();
    void flush_log();
    void wait_and_dispatch();
    void submit_queued();
    void stash_completions();
    void take_completions(std::vector<Reaped>& into);

    io_uring ring_{};
    bool ring_ready_ = false;
    int index_ = 0;
    std::unique_ptr<BufferRing> buffers_;
    TimerQueue timers_;
    Clock::time_point now_ = Clock::now();
    bool stopping_ = false;

    std::vector<Reaped> reaped_;
    // Completions taken off the ring outside the loop's wait (to free the completion queue when
    // a submit found it full); dispatched at the start of the next loop turn.
    std::vector<Reaped> stashed_;
    std::vector<std::function<void()>> deferred_;

    int inbox_fd_ = -1;
    std::uint64_t inbox_counter_ = 0;
    MemberOperation<Reactor, &Reactor::on_inbox> inbox_operation_{this};
    std::mutex inbox_mutex_;
    std::vector<std::function<void()>> inbox_;

    std::string log_writing_;
    std::size_t log_written_ = 0;
    bool log_in_flight_ = false;
    Clock::time_point log_due_{};  // when the pending lines must be written; zero: none pending
    MemberOperation<Reactor, &Reactor::on_log_written> log_operation_{this};
};

}  // namespace relay::engine
