// fd_poller.h -- readiness of file descriptors the engine does not own (a DNS library's
// sockets, for example), polled through the worker's ring.
//
// The owner says which fds it wants watched and for what; each wanted fd has one poll request
// in the ring at a time, re-armed after each completion while the fd is still wanted. A change
// of mask cancels the request in flight and re-arms with the new mask when the cancellation
// completes. An fd no longer wanted is cancelled; its request is kept until the kernel is done
// with it, so no completion ever names freed memory while the poller lives.
//
// Errors and hang-ups are reported as readable, so that the owner reads the error.
//
// Thread: one worker. Never blocks. `ready` runs from the reactor's completion handling; it may
// call watch() for any fd, the one reported included.
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "relay/engine/reactor.h"

namespace relay::engine {

class FdPoller {
  public:
    // Called with the fd and what it is ready for; `after` runs after every completion (ready
    // or not), for owners that re-arm timers after each event.
    using Ready = std::function<void(int fd, bool readable, bool writable)>;
    using After = std::function<void()>;

    FdPoller(Reactor& reactor, Ready ready, After after);
    ~FdPoller();
    FdPoller(const FdPoller&) = delete;
    FdPoller& operator=(const FdPoller&) = delete;

    // Start, change or (both false) stop watching `fd`.
    void watch(int fd, bool readable, bool writable);

  private:
    struct Watch;

    void arm(Watch& watch);
    void cancel(Watch& watch);
    void on_poll(Watch* watch, int result);

    Reactor& reactor_;
    Ready ready_;
    After after_;
    std::unordered_map<int, std::unique_ptr<Watch>> watches_;
    std::vector<std::unique_ptr<Watch>> retired_;
};

}  // namespace relay::engine
