// byte_buffer.h -- a bounded byte queue that owns memory only while it holds bytes.
//
// The session's input and output buffers. Its storage is allocated at the first append and
// freed when the last byte is taken, so that an idle connection holds none; it never grows past
// the capacity fixed at construction. Bytes move only in compact(), which the owner calls at the
// moments no one holds a span into the buffer.
//
// Untrusted bytes: carries them, never interprets them. Threads: the owning session's.
// Never: reallocate while bytes are queued, or exceed its capacity.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

#include "relay/base/assert.h"

namespace relay::tls::internal {

class ByteBuffer {
  public:
    explicit ByteBuffer(std::size_t capacity) : capacity_(capacity) {}

    std::size_t size() const { return end_ - begin_; }
    bool empty() const { return end_ == begin_; }
    // Room at the tail, where append() writes without moving anything.
    std::size_t tail_room() const { return capacity_ - end_; }
    // Room once compact() has run.
    std::size_t room() const { return capacity_ - size(); }
    std::size_t allocated_bytes() const { return storage_ ? capacity_ : 0; }

    std::span<const std::byte> bytes() const { return {storage_.get() + begin_, end_ - begin_}; }

    // Copies up to tail_room() bytes; returns how many.
    std::size_t append(std::span<const std::byte> data) {
        std::size_t count = std::min(data.size(), tail_room());
        if (count == 0) {
            return 0;
        }
        if (!storage_) {
            storage_ = std::make_unique_for_overwrite<std::byte[]>(capacity_);
        }
        std::memcpy(storage_.get() + end_, data.data(), count);
        end_ += count;
        return count;
    }

    // Drops `count` bytes from the front; frees the storage when nothing is left.
    void consume(std::size_t count) {
        RELAY_ASSERT(count <= size());
        begin_ += count;
        if (begin_ == end_) {
            storage_.reset();
            begin_ = 0;
            end_ = 0;
        }
    }

    // Moves the queued bytes to the front, turning all room into tail room.
    void compact() {
        if (begin_ == 0) {
            return;
        }
        std::memmove(storage_.get(), storage_.get() + begin_, size());
        end_ -= begin_;
        begin_ = 0;
    }

  private:
    std::unique_ptr<std::byte[]> storage_;
    std::size_t capacity_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace relay::tls::internal
