// fd_poller.cc -- poll requests for foreign fds on the worker's ring.
#include "relay/engine/fd_poller.h"

#include <poll.h>

#include <algorithm>

namespace relay::engine {

struct FdPoller::Watch final : Operation {
    FdPoller* poller = nullptr;
    int fd = -1;
    unsigned wanted = 0;
    unsigned armed = 0;
    bool in_flight = false;
    bool retired = false;
    void complete(int result, std::uint32_t) override { poller->on_poll(this, result); }
};

FdPoller::FdPoller(Reactor& reactor, Ready ready, After after)
    : reactor_(reactor), ready_(std::move(ready)), after_(std::move(after)) {}

FdPoller::~FdPoller() = default;

void FdPoller::watch(int fd, bool readable, bool writable) {
    unsigned mask = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
    auto found = watches_.find(fd);
    if (mask == 0) {
        if (found != watches_.end()) {
            std::unique_ptr<Watch> watch = std::move(found->second);
            watches_.erase(found);
            watch->retired = true;
            if (watch->in_flight) {
                cancel(*watch);
                retired_.push_back(std::move(watch));
            }
        }
        return;
    }
    if (found == watches_.end()) {
        auto watch = std::make_unique<Watch>();
        watch->poller = this;
        watch->fd = fd;
        found = watches_.emplace(fd, std::move(watch)).first;
    }
    Watch& watch = *found->second;
    watch.wanted = mask;
    if (!watch.in_flight) {
        arm(watch);
    } else if (watch.armed != mask) {
        cancel(watch);  // re-armed with the new mask when the cancellation completes
    }
}

void FdPoller::arm(Watch& watch) {
    io_uring_sqe* sqe = reactor_.prepare(&watch);
    io_uring_prep_poll_add(sqe, watch.fd, watch.wanted);
    watch.armed = watch.wanted;
    watch.in_flight = true;
}

void FdPoller::cancel(Watch& watch) {
    io_uring_sqe* sqe = reactor_.prepare_detached();
    io_uring_prep_cancel(sqe, &watch, 0);
}

void FdPoller::on_poll(Watch* watch, int result) {
    watch->in_flight = false;
    if (watch->retired) {
        std::erase_if(retired_, [watch](const auto& owned) { return owned.get() == watch; });
        return;
    }
    int fd = watch->fd;
    if (result > 0) {
        bool readable = (result & (POLLIN | POLLERR | POLLHUP)) != 0;
        bool writable = (result & POLLOUT) != 0;
        ready_(fd, readable, writable);
    }
    // The owner may have stopped watching (and retired) this fd meanwhile.
    auto found = watches_.find(fd);
    if (found != watches_.end() && found->second.get() == watch && !watch->in_flight) {
        arm(*watch);
    }
    after_();
}

}  // namespace relay::engine
