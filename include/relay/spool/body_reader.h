// body_reader.h -- a message's stored bytes, read back in bounded pieces.
//
// Delivery, compaction and DSNs read a message through a BodyReader: piece by piece, each at
// most `piece_bytes`, so that a message of any size is never whole in memory. A message still
// in the worker's body cache is served from there as views (no read, no copy); otherwise each
// piece is read from its segment through the ring into a buffer of the reader's small pool.
//
// Checks, as the bytes arrive: every chunk record's header (type, queue id, size) and, once its
// last piece is in, its checksum; with the last piece of the message, the whole-body XXH3-64.
// A mismatch is reported instead of the piece that revealed it, so a consumer that stops at the
// first error never hands on a whole message that is not exactly what was acknowledged (a
// damaged body is cut short, never completed).
//
// While it lives, a reader pins the segments it reads, so that neither retirement nor
// compaction removes them under a slow delivery. It may be destroyed with a read in flight: the
// spool owns the operation and drops its completion.
//
// Thread: the worker that owns the spool. Never blocks.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "relay/base/result.h"
#include "relay/engine/operation.h"
#include "relay/spool/record.h"
#include "relay/spool/worker_spool.h"

struct XXH3_state_s;

namespace relay::spool {

namespace internal {
// One read in flight, owned by the spool: it outlives a reader destroyed meanwhile.
struct BodyRead final : engine::Operation {
    WorkerSpool* spool = nullptr;
    WorkerSpool::BodyReader* reader = nullptr;  // nullptr once the reader is gone
    std::shared_ptr<char[]> buffer;
    std::size_t bytes = 0;  // payload bytes asked for
    bool with_header = false;
    char header[record_header_bytes] = {};
    iovec vectors[2] = {};
    std::function<void(Result<BodyPiece>)> done;

    void complete(int result, std::uint32_t flags) override;
};
}  // namespace internal

class WorkerSpool::BodyReader {
  public:
    ~BodyReader();
    BodyReader(const BodyReader&) = delete;
    BodyReader& operator=(const BodyReader&) = delete;

    // Reads the next piece. `done` runs later on this worker, never inside the call, with the
    // piece (empty only for an empty message), or an error when the data is damaged or gone.
    // One read at a time.
    void read(std::function<void(Result<BodyPiece>)> done);
    // The next piece at once, when it needs no read (the message is in the body cache): a
    // caller may send it together with what precedes it. nullopt: call read().
    std::optional<BodyPiece> read_now();
    // Every byte was read and verified.
    bool at_end() const { return at_end_; }
    bool reading() const { return in_flight_ != nullptr; }
    std::uint64_t body_bytes() const { return body_bytes_; }
    std::uint64_t read_bytes() const { return read_bytes_; }

  private:
    friend class WorkerSpool;
    friend struct internal::BodyRead;

    BodyReader(WorkerSpool& spool, QueueId id, const Envelope& envelope, BodyPiece cached,
               std::size_t piece_bytes);
    void read_cached(std::function<void(Result<BodyPiece>)> done);
    std::shared_ptr<char[]> take_buffer();
    void on_read(std::unique_ptr<internal::BodyRead> read, int result);
    Status check_piece(const internal::BodyRead& read, std::string_view piece);
    Error damaged(std::string_view what) const;

    WorkerSpool& spool_;
    QueueId id_;
    std::vector<ChunkRef> chunks_;
    BodyPiece cached_;
    std::uint64_t body_bytes_;
    std::uint64_t body_hash_;
    std::size_t piece_bytes_;
    std::size_t chunk_index_ = 0;
    std::uint32_t chunk_read_bytes_ = 0;  // payload bytes of chunks_[chunk_index_] read so far
    std::uint64_t chunk_checksum_ = 0;    // from the current chunk's record header
    std::uint64_t read_bytes_ = 0;
    bool at_end_ = false;
    XXH3_state_s* record_hash_;  // the current chunk record: header bytes 0..15, then payload
    XXH3_state_s* body_hash_state_;
    std::vector<std::shared_ptr<char[]>> buffers_;  // reused once the consumer lets go
    internal::BodyRead* in_flight_ = nullptr;
    SegmentPins pins_;
};

}  // namespace relay::spool
