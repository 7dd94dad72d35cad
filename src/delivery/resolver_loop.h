// resolver_loop.h -- the c-ares resolver bound to one worker's reactor: its sockets are
// polled through engine::FdPoller, its timeouts are reactor timers.
//
// Thread: one worker. Never blocks (the resolver is created at start-up, where it may read
// /etc/resolv.conf).
#pragma once

#include <optional>

#include "relay/base/result.h"
#include "relay/delivery/resolver.h"
#include "relay/engine/fd_poller.h"
#include "relay/engine/reactor.h"

namespace relay::delivery::internal {

class ResolverLoop final : public FdWatcher {
  public:
    explicit ResolverLoop(engine::Reactor& reactor);
    ~ResolverLoop() override;
    ResolverLoop(const ResolverLoop&) = delete;
    ResolverLoop& operator=(const ResolverLoop&) = delete;

    Status create(const ResolverOptions& options);
    Resolver& resolver() { return *resolver_; }

    // After any call into the resolver: deliver what finished, re-arm the timeout.
    void after_call();

    void watch(int fd, bool readable, bool writable) override {
        poller_.watch(fd, readable, writable);
    }

  private:
    engine::Reactor& reactor_;
    engine::FdPoller poller_;
    std::optional<Resolver> resolver_;
    engine::TimerQueue::TimerId timer_ = 0;
};

}  // namespace relay::delivery::internal
