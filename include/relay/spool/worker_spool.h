// worker_spool.h -- one worker's share of the durable queue.
//
// Each worker owns the segments it writes (and those it adopted at recovery), the index of the
// unfinished messages homed in them, and a cache of recently accepted message bodies so that
// delivery rarely reads them back from disk. Nothing here is shared with other workers.
//
// Ingress: `begin_message` gives a Sink for the message pass; bytes are staged in memory and
// written as body_chunk records of up to chunk_bytes; `commit` appends the message record and
// reports the queue id only after group commit made it durable.
//
// Delivery: `find`, `open_body` (body_reader.h), and the outcome records (`record_recipient`,
// `record_deferral`, `finish`). Outcome records ride along with the next group commit, or a
// flush at most 2 ms later (SpoolWriter::background_flush_delay): a completion on disk is never
// retried after a restart; one lost in the last moments before a crash is retried (at-least-once
// delivery).
//
// Segment lifetime: a segment may be deleted when it is sealed, no unfinished message has
// records in it, and every older segment of this worker is deleted (records about a message
// always lie in its home segment or later ones). A long-deferred message would pin every later
// segment, so `compact` copies the few unfinished messages of the oldest segment forward.
//
// Thread: one worker. Never blocks after `open`.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/base/result.h"
#include "relay/engine/reactor.h"
#include "relay/message/message_pass.h"
#include "relay/spool/message_record.h"
#include "relay/spool/recovery.h"
#include "relay/spool/spool_writer.h"

struct XXH3_state_s;

namespace relay::spool {

namespace internal {
struct BodyRead;
}

struct SpoolOptions {
    std::string segments_folder;
    std::uint64_t segment_bytes_max = 256ull << 20;
    std::uint32_t chunk_bytes = 1u << 20;
    std::uint64_t cache_bytes_max = 128ull << 20;  // this worker's share
};

// Bytes of a message in memory (a piece read back, or a whole message in the body cache):
// `bytes` stays valid while `owner` is held.
struct BodyPiece {
    std::shared_ptr<const void> owner;
    std::string_view bytes;
};

// Room at the end of the chunk an incoming message is filling: the kernel may receive the next
// bytes straight into it. `owner` keeps the memory alive while a receive is in flight.
struct StagingSpace {
    std::shared_ptr<char[]> owner;
    std::span<char> bytes;
};

class WorkerSpool {
    // The segments one holder (a message still arriving, a body reader) keeps from retirement:
    // each pinned once, all released when the holder goes.
    class SegmentPins {
      public:
        explicit SegmentPins(WorkerSpool& spool) : spool_(spool) {}
        ~SegmentPins();
        SegmentPins(const SegmentPins&) = delete;
        SegmentPins& operator=(const SegmentPins&) = delete;
        void add(std::uint64_t sequence);

      private:
        WorkerSpool& spool_;
        std::vector<std::uint64_t> sequences_;
    };

  public:
    // The stored bytes of one message while it is received.
    //
    // Each segment that holds one of its chunks is pinned from the moment the chunk is
    // appended until the message is indexed (or abandoned): a segment sealed while the message
    // is still arriving must not be retired under it.
    class Incoming final : public message::Sink {
      public:
        // Bytes that already lie at the end of the staged data (received into
        // receiving_space()) are taken where they are; others are copied there.
        void append(std::string_view bytes) override;
        std::uint64_t size_bytes() const { return total_bytes_; }
        // Room for the next bytes to be received into, once the message fills whole chunks
        // (empty before: a small message is staged by copying while its buffer grows, which
        // keeps a small message's memory small). The room begins `held_bytes` past the staged
        // bytes: input the caller's parser holds back (not yet appended) stays where it lies,
        // so that appending it later, or bytes that stand for it, never overwrites input not
        // yet read. Bytes the parser inserts (normalised line endings) must not be appended
        // while received input lies in the room: such a caller must not receive in place.
        StagingSpace receiving_space(std::size_t held_bytes);
        // The message fills whole chunks: receiving_space() may offer room.
        bool fills_chunks() const { return capacity_ == spool_.options_.chunk_bytes; }
        QueueId queue_id() const { return id_; }
        // Bytes of this message's chunks handed to the writer and not yet on disk (besides
        // them, only the chunk being filled is in memory). A session stops reading while this
        // is over its bound, so that a slow disk slows the client instead of filling memory
        // (WorkerSpool::set_on_written says when to look again).
        std::uint64_t unwritten_bytes();

      private:
        friend class WorkerSpool;
        explicit Incoming(WorkerSpool& spool, QueueId id);
        void make_room();
        void write_chunk();
        void add_chunk(const RecordLocation& at, std::uint32_t bytes);

        WorkerSpool& spool_;
        QueueId id_;
        std::uint64_t epoch_;
        std::shared_ptr<char[]> buffer_;  // the chunk being filled
        std::size_t capacity_ = 0;        // grows by doubling up to chunk_bytes
        std::size_t staged_ = 0;
        std::vector<ChunkRef> chunks_;
        SegmentPins pins_;
        struct Unwritten {
            RecordLocation at;
            std::size_t bytes = 0;  // the whole record
        };
        // Chunks not yet known to be on disk, oldest first from unwritten_front_ (a vector:
        // most messages never have one, and an empty vector allocates nothing).
        std::vector<Unwritten> unwritten_;
        std::size_t unwritten_front_ = 0;
        std::uint64_t unwritten_chunk_bytes_ = 0;
        std::uint64_t total_bytes_ = 0;
        char last_bytes_[2] = {};   // the final two stored bytes so far (CRLF at the end?)
        XXH3_state_s* hash_state_;  // whole-message XXH3-64, fed as bytes arrive

      public:
        ~Incoming();
        Incoming(const Incoming&) = delete;
        Incoming& operator=(const Incoming&) = delete;
    };

    WorkerSpool(engine::Reactor& reactor, int worker, SpoolOptions options,
                std::atomic<std::uint64_t>& next_sequence, QueueId largest_recovered_id);
    ~WorkerSpool();

    // Start-up (blocking): opens the adopted segments, indexes the adopted messages, creates
    // this worker's first new segment.
    Status open(const std::vector<SegmentSummary>& segments,
                std::vector<RecoveredMessage> messages);

    // --- ingress ---
    std::unique_ptr<Incoming> begin_message(std::uint64_t size_hint);
    // `message` carries the envelope and recipients; the spool fills in id, chunks and hashes.
    void commit(std::unique_ptr<Incoming> incoming, QueuedMessage message,
                std::function<void(Result<QueueId>)> done);
    // A commit will follow soon (its message is being signed) / it came or never will: the
    // commits meanwhile wait a little for it, to share its flush (spool_writer.h).
    void expect_commit() { writer_.expect_commit(); }
    void end_expected_commit() { writer_.end_expected_commit(); }

    // --- delivery ---
    void set_on_queued(std::function<void(QueueId)> callback) { on_queued_ = std::move(callback); }
    QueuedMessage* find(QueueId id);
    template <class Visit>
    void for_each(Visit visit) {
        for (auto& [id, entry] : messages_) {
            visit(entry.message);
        }
    }
    std::size_t size() const { return messages_.size(); }
    // Reads the stored bytes in pieces of at most `piece_bytes` (body_reader.h); nullptr if
    // there is no such message.
    class BodyReader;
    std::unique_ptr<BodyReader> open_body(QueueId id, std::size_t piece_bytes);
    // The header block as stored (at most the envelope's header_bytes).
    void read_headers(QueueId id, std::function<void(Result<std::string>)> done);
    void record_recipient(QueueId id, const RecipientDone& done);
    void record_deferral(QueueId id, const Deferral& deferral);
    void record_retry_now(QueueId id);
    // Every recipient is final (or the operator deleted the message): drop it.
    void finish(QueueId id);

    // Calls `done` once everything appended so far is on disk.
    void flush(std::function<void(const Status&)> done);
    // Copies unfinished messages out of old segments that they alone keep alive.
    void compact();

    // Called (from a deferred task) after each group commit ended: sessions paused because
    // their unwritten bytes were over the bound look again.
    void set_on_written(std::function<void()> callback) { on_written_ = std::move(callback); }
    // Called when a group commit made a segment durable up to `bytes`, before the commits it
    // carried are answered (statistics, and the spool's crash tests).
    void set_on_durable(std::function<void(std::uint64_t sequence, std::uint64_t bytes)> callback) {
        on_durable_ = std::move(callback);
    }

    std::uint64_t cached_bytes() const { return cache_bytes_; }
    std::size_t segment_count() const { return segments_.size(); }

  private:
    friend struct internal::BodyRead;
    struct Entry {
        QueuedMessage message;
        std::uint64_t home_segment = 0;
        BodyPiece cached;              // the whole message, when it is in the body cache
        std::size_t cached_bytes = 0;  // memory the cached copy holds
    };
    struct SegmentState {
        int fd = -1;
        std::string path;
        std::uint64_t pins = 0;  // unfinished messages with a message or chunk record here
        bool sealed = false;
    };
    struct SegmentUnlink;
    struct Copy;

    void pin(const Entry& entry, int delta);
    void pin_segment(std::uint64_t sequence, int delta);
    void delete_unpinned_segments();
    void index(QueuedMessage message, std::uint64_t home, BodyPiece cached,
               std::size_t cached_bytes);
    void after_read();
    void copy_next();
    void copy_piece(const std::shared_ptr<Copy>& copy);
    void finish_copy(const std::shared_ptr<Copy>& copy);

    engine::Reactor& reactor_;
    SpoolOptions options_;
    QueueIdGenerator ids_;
    SpoolWriter writer_;
    std::map<std::uint64_t, SegmentState> segments_;  // by sequence: oldest first
    std::unordered_map<QueueId, Entry> messages_;
    std::uint64_t cache_bytes_ = 0;
    std::function<void(QueueId)> on_queued_;
    std::function<void(std::uint64_t, std::uint64_t)> on_durable_;
    std::function<void()> on_written_;
    bool written_scheduled_ = false;
    engine::OwnedOperations<internal::BodyRead> reads_;
    std::deque<QueueId> copy_queue_;  // compaction copies one message at a time
    bool copying_ = false;
    engine::OwnedOperations<SegmentUnlink> unlinks_;
};

}  // namespace relay::spool
