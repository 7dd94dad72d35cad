// worker.h -- one loadgen thread: an io_uring driving a share of the sessions.
//
// The loop submits everything queued, waits for at least one completion (or 10 ms), reaps the
// whole completion batch into a vector and only then dispatches it, then every 10 ms checks
// deadlines (reply timeouts, reconnect backoff) and flushes the record buffer. One io_uring_enter
// per iteration serves all sessions: connects, sends (sendmsg with iovecs pointing into the
// message pool) and receives, so a busy session costs no system call of its own.
//
// user_data layout (64 bits): bits 0-7 the operation (Op), bits 8-39 the session's slot, bits
// 40-63 the low 24 bits of the session's connection generation. Completions of cancel and close
// are not waited for; a completion whose generation is not the session's current one is ignored.
//
// Untrusted bytes: what the server sends, handed to Session unread. Thread: its own, from run()
// to the end. Must never: block outside io_uring_enter (socket() and setsockopt() are the only
// other calls per connection, besides what wolfSSL does to set up a --starttls session), or
// touch another worker's sessions.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "session.h"

namespace loadgen {

class Worker {
  public:
    Worker(Shared& shared, WorkerContext& context, std::uint32_t session_count);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Runs until every session has finished. Fails only when the ring cannot be used.
    relay::Status run();

  private:
    enum class Op : std::uint8_t { connect = 1, receive, send, cancel, close };
    struct Completion {
        std::uint64_t user_data;
        int result;
    };

    relay::Status setup_ring();
    io_uring_sqe* next_sqe();
    static std::uint64_t encode(Op op, std::uint32_t slot, std::uint32_t generation);

    void open_connection(std::uint32_t slot, std::int64_t now_ns);
    void dispatch(const Completion& completion, std::int64_t now_ns);
    void on_receive(std::uint32_t slot, int result, std::int64_t now_ns);
    void on_send(std::uint32_t slot, int result, std::int64_t now_ns);
    void drive(std::uint32_t slot, std::int64_t now_ns);
    void tear_down(std::uint32_t slot, std::int64_t now_ns);
    void after_close(std::uint32_t slot, CloseKind kind, std::int64_t now_ns);
    void finish(Session& session);
    void check_timers(std::int64_t now_ns);

    Shared& shared_;
    WorkerContext& context_;
    io_uring ring_{};
    bool ring_ready_ = false;
    std::vector<std::unique_ptr<Session>> sessions_;
    std::vector<bool> eof_pending_;  // EOF seen while a send was in flight
    std::vector<Completion> completions_;
    std::uint32_t finished_count_ = 0;
    std::int64_t last_timer_check_ns_ = 0;
    std::int64_t last_flush_ns_ = 0;
};

std::int64_t monotonic_ns();

}  // namespace loadgen
