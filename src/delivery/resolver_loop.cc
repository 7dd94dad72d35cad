// resolver_loop.cc -- the resolver's sockets and timeouts on the worker's reactor.
#include "resolver_loop.h"

namespace relay::delivery::internal {

ResolverLoop::ResolverLoop(engine::Reactor& reactor)
    : reactor_(reactor),
      poller_(
          reactor,
          [this](int fd, bool readable, bool writable) {
              if (resolver_) {
                  resolver_->on_ready(fd, readable, writable);
              }
          },
          [this] { after_call(); }) {}

ResolverLoop::~ResolverLoop() {
    resolver_.reset();  // tells us to stop watching; then no poll may outlive us
    reactor_.timers().cancel(timer_);
}

Status ResolverLoop::create(const ResolverOptions& options) {
    auto created = Resolver::create(options, *this);
    if (!created) {
        return created.error();
    }
    resolver_.emplace(std::move(created.value()));
    return {};
}

void ResolverLoop::after_call() {
    if (!resolver_) {
        return;
    }
    reactor_.timers().cancel(timer_);
    timer_ = 0;
    if (auto wait = resolver_->next_timeout()) {
        timer_ = reactor_.timers().add(reactor_.now() + *wait, [this] {
            timer_ = 0;
            resolver_->on_timeout();
            after_call();
        });
    }
}

}  // namespace relay::delivery::internal
