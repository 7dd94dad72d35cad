// buffer_ring.cc -- registering and refilling the provided-buffer ring.
#include "relay/engine/buffer_ring.h"

#include <sys/mman.h>

namespace relay::engine {

Result<std::unique_ptr<BufferRing>> BufferRing::create(io_uring* ring, std::uint16_t group,
                                                       std::uint32_t count,
                                                       std::uint32_t buffer_bytes) {
    RELAY_ASSERT(count > 0 && count <= 32768 && (count & (count - 1)) == 0);
    RELAY_ASSERT(buffer_bytes >= 512);
    std::unique_ptr<BufferRing> self(new BufferRing());
    self->ring_ = ring;
    self->group_ = group;
    self->count_ = count;
    self->buffer_bytes_ = buffer_bytes;
    self->mask_ = io_uring_buf_ring_mask(count);

    self->entries_bytes_ = count * sizeof(io_uring_buf);
    void* entries = mmap(nullptr, self->entries_bytes_, PROT_READ | PROT_WRITE,
                         MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (entries == MAP_FAILED) {
        return system_error("cannot map the receive buffer ring", errno);
    }
    self->entries_ = static_cast<io_uring_buf_ring*>(entries);

    self->memory_bytes_ = std::size_t{count} * buffer_bytes;
    void* memory = mmap(nullptr, self->memory_bytes_, PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED) {
        return system_error("cannot map receive buffers", errno);
    }
    self->memory_ = static_cast<char*>(memory);

    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uint64_t>(self->entries_);
    registration.ring_entries = count;
    registration.bgid = group;
    int result = io_uring_register_buf_ring(ring, &registration, 0);
    if (result < 0) {
        return system_error(
            "io_uring provided-buffer rings are not supported (Linux 5.19 or newer is needed)",
            result);
    }
    io_uring_buf_ring_init(self->entries_);
    for (std::uint32_t id = 0; id < count; ++id) {
        io_uring_buf_ring_add(self->entries_, self->memory_ + std::size_t{id} * buffer_bytes,
                              buffer_bytes, static_cast<std::uint16_t>(id), self->mask_,
                              static_cast<int>(id));
    }
    io_uring_buf_ring_advance(self->entries_, static_cast<int>(count));
    return self;
}

BufferRing::~BufferRing() {
    if (ring_ != nullptr && entries_ != nullptr) {
        (void)io_uring_unregister_buf_ring(ring_, group_);
    }
    if (entries_ != nullptr) {
        munmap(entries_, entries_bytes_);
    }
    if (memory_ != nullptr) {
        munmap(memory_, memory_bytes_);
    }
}

std::span<char> BufferRing::buffer(std::uint16_t id, std::size_t length) {
    RELAY_ASSERT(id < count_);
    RELAY_ASSERT(length <= buffer_bytes_);
    return {memory_ + std::size_t{id} * buffer_bytes_, length};
}

void BufferRing::recycle(std::uint16_t id) {
    RELAY_ASSERT(id < count_);
    io_uring_buf_ring_add(entries_, memory_ + std::size_t{id} * buffer_bytes_, buffer_bytes_, id,
                          mask_, 0);
    io_uring_buf_ring_advance(entries_, 1);
}

}  // namespace relay::engine
