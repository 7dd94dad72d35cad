// buffer_ring.h -- a provided-buffer ring: receive buffers shared by all sockets of a worker.
//
// With multishot recv the kernel picks a buffer from this ring when data arrives, so an idle
// connection holds no receive buffer at all: memory per idle connection stays small however many
// connections are open. A handler must be done with a buffer (or have copied what it keeps) when
// it returns; the connection then gives the buffer back.
//
// liburing 2.3 has no io_uring_setup_buf_ring: the ring memory is mmap'ed here and registered.
//
// Thread: one worker.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <span>

#include "relay/base/result.h"

namespace relay::engine {

class BufferRing {
  public:
    static Result<std::unique_ptr<BufferRing>> create(io_uring* ring, std::uint16_t group,
                                                      std::uint32_t count,
                                                      std::uint32_t buffer_bytes);
    ~BufferRing();
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;

    std::uint16_t group() const { return group_; }
    std::uint32_t buffer_bytes() const { return buffer_bytes_; }
    std::span<char> buffer(std::uint16_t id, std::size_t length);
    // Hands the buffer back to the kernel.
    void recycle(std::uint16_t id);

  private:
    BufferRing() = default;

    io_uring* ring_ = nullptr;
    io_uring_buf_ring* entries_ = nullptr;
    std::size_t entries_bytes_ = 0;
    char* memory_ = nullptr;
    std::size_t memory_bytes_ = 0;
    std::uint32_t count_ = 0;
    std::uint32_t buffer_bytes_ = 0;
    std::uint16_t group_ = 0;
    int mask_ = 0;
};

}  // namespace relay::engine
