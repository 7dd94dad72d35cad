// operation.h -- an operation in flight on a worker's ring.
//
// The `user_data` of every submission queue entry is the address of an `Operation` (8-byte
// aligned, never null). `user_data == 0` is reserved for entries whose completion nobody awaits
// (a cancel request, for instance): the reactor drops those.
//
// The owner of an Operation must keep it alive until its final completion arrived: for a
// multishot operation that is the completion without IORING_CQE_F_MORE. Objects that own
// operations (connections, listeners, spool writers) count them and are destroyed only when the
// count is zero.
//
// Thread: the worker that submitted it. Completions are delivered after the reactor has reaped
// the whole batch, never while it walks the completion queue.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "relay/base/assert.h"

namespace relay::engine {

class Operation {
  public:
    // `result` is the CQE's res (bytes, a file descriptor, or -errno); `flags` its flags.
    virtual void complete(int result, std::uint32_t flags) = 0;

  protected:
    ~Operation() = default;
};

// An Operation that forwards to a member function, so that one object can own several
// operations without a virtual base per kind.
template <class Owner, void (Owner::*handler)(int, std::uint32_t)>
class MemberOperation final : public Operation {
  public:
    explicit MemberOperation(Owner* owner) : owner_(owner) {}
    void complete(int result, std::uint32_t flags) override { (owner_->*handler)(result, flags); }

  private:
    Owner* owner_;
};

// Heap operations in flight, owned by whoever submitted them rather than released to the ring:
// when the ring is torn down first (at shutdown, or at the end of a test), their completions
// never come, and the owner's destructor still frees them. `adopt` before submitting, `take` in
// the completion.
template <class T>
class OwnedOperations {
  public:
    T* adopt(std::unique_ptr<T> operation) {
        T* raw = operation.get();
        owned_.emplace(raw, std::move(operation));
        return raw;
    }
    std::unique_ptr<T> take(T* operation) {
        auto node = owned_.extract(operation);
        RELAY_ASSERT(!node.empty());
        return std::move(node.mapped());
    }
    bool empty() const { return owned_.empty(); }

  private:
    std::unordered_map<T*, std::unique_ptr<T>> owned_;
};

}  // namespace relay::engine
