// spool_writer.h -- one worker's appender to its active segment, with group commit.
//
// Commit protocol (see docs/spool-format.md):
//   1. `append` places a record in memory at a known segment and offset (so a message record
//      can name its chunks before they are written). Large payloads are not copied: the writer
//      keeps a reference to the caller's buffer until the bytes are on disk.
//   2. `commit` asks for everything appended so far to become durable. Commits that arrive while
//      a batch is in flight wait for the next batch: many sessions share one write and one
//      fdatasync (group commit). The callback runs only after the fdatasync covering its bytes
//      succeeded; only then may a session answer 250.
//   3. A batch is: for each segment with pending bytes, writev(s) linked to an fdatasync; when
//      the batch created a segment file, the spool folder is fsync'ed too so the file's name is
//      durable.
//   4. When to start a batch. A commit starts one at once, unless more commits are expected
//      soon (`expect_commit`: a message on a signing thread): then it waits for them, at most
//      commit_gather_wait after it arrived, so that messages that come back from signing one
//      by one, a fraction of a millisecond apart, share a flush instead of taking one each.
//      Records nobody waits for (delivery outcomes, `flush_soon`) wait up to
//      background_flush_delay to ride along with the next commit's batch.
//   5. A failed batch (EIO, ENOSPC, a short write) fails every commit in it and starts a new
//      epoch: a message that appended anything before the failure fails its commit too (its
//      chunks may be missing), and the writer moves to a fresh segment.
//
// Segments rotate at a batch boundary once larger than segment_bytes_max. The next segment file
// is created ahead of time, asynchronously, so rotation does not wait for a file creation.
//
// Thread: one worker. Never blocks after `open`, which runs at start-up.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"
#include "relay/engine/operation.h"
#include "relay/engine/reactor.h"
#include "relay/spool/record.h"

namespace relay::spool {

struct RecordLocation {
    std::uint64_t segment = 0;
    std::uint64_t offset = 0;  // of the record header
};

// Called when the writer has sealed a segment (no more appends) or created one, and when a
// batch made a segment durable up to `bytes` (before the batch's commits are answered).
struct SegmentEvents {
    std::function<void(std::uint64_t sequence, int fd, const std::string& path)> created;
    std::function<void(std::uint64_t sequence)> sealed;
    std::function<void(std::uint64_t sequence, std::uint64_t bytes)> durable;
    // A batch ended (made durable, or failed), after its commits were answered.
    std::function<void()> batch_finished;
};

class SpoolWriter {
  public:
    SpoolWriter(engine::Reactor& reactor, int worker, std::string segments_folder,
                std::uint64_t segment_bytes_max, std::atomic<std::uint64_t>& next_sequence,
                SegmentEvents events);
    ~SpoolWriter();
    SpoolWriter(const SpoolWriter&) = delete;
    SpoolWriter& operator=(const SpoolWriter&) = delete;

    // Creates the first segment. Start-up only (blocking).
    Status open();

    // Appends a record with a small payload (copied).
    RecordLocation append(RecordType type, std::uint64_t queue_id, std::string_view payload);
    // Appends a record whose payload is `payload`, which must stay valid and unchanged while
    // `keep_alive` lives; the writer holds `keep_alive` until the bytes are written.
    RecordLocation append_shared(RecordType type, std::uint64_t queue_id, std::string_view payload,
                                 std::shared_ptr<const void> keep_alive);

    // Calls `done` once everything appended so far is durable (or could not be made durable).
    void commit(std::function<void(Status)> done);
    // Starts writing what is pending without anyone waiting (large messages as they arrive).
    void flush();
    // Writes what is pending within background_flush_delay, or with an earlier batch (delivery
    // state records: nobody waits for them, and a flush of their own each would double the
    // flushes of a message).
    void flush_soon();
    // One more commit is on its way (a message being signed) / it came or never will. While
    // commits are expected, a commit waits up to commit_gather_wait for them.
    void expect_commit();
    void end_expected_commit();

    // A commit that waits for expected ones waits at most this long: below the time a batch
    // takes on a busy disk, so that the wait is not what bounds a session's rate.
    static constexpr auto commit_gather_wait = std::chrono::microseconds(1000);
    // Records nobody waits for are written at most this long after they were appended (plus
    // the batch in flight then).
    static constexpr auto background_flush_delay = std::chrono::microseconds(2000);

    // Whether the record of `bytes` at `at` is on disk: its segment's batches made it durable,
    // or the segment left the writer (sealed and written).
    bool durable(const RecordLocation& at, std::size_t bytes) const;

    // Incremented on every failed batch; a message whose first append happened in an older
    // epoch must not be acknowledged.
    std::uint64_t epoch() const { return epoch_; }
    bool idle() const { return !batch_in_flight_ && pending_empty(); }
    std::uint64_t active_sequence() const;

  private:
    struct Segment;
    struct Batch;

    Segment& active();
    void maybe_rotate(std::size_t next_record_bytes);
    void rotate();
    void add_piece(Segment& segment, const char* data, std::size_t bytes);
    char* arena_space(std::size_t bytes);
    bool pending_empty() const;
    void start_batch();
    void schedule_batch();
    void gather_until(engine::Clock::time_point deadline);
    void submit_segment(Batch& batch, Segment& segment);
    void on_batch_operation();
    void finish_batch();
    void recover_from_failure(const std::vector<Segment*>& touched);
    void retry_later();
    void prepare_spare();
    void on_spare_opened(int result, std::uint32_t flags);
    Result<int> create_segment_file_blocking(std::uint64_t sequence, std::string& path);
    void write_segment_header(Segment& segment);

    engine::Reactor& reactor_;
    int worker_;
    std::string folder_;
    int folder_fd_ = -1;
    std::uint64_t segment_bytes_max_;
    std::atomic<std::uint64_t>& next_sequence_;
    SegmentEvents events_;

    std::deque<std::unique_ptr<Segment>> segments_;  // front: oldest with unwritten bytes
    std::unique_ptr<Segment> spare_;                 // created ahead of rotation
    bool spare_opening_ = false;
    bool spare_stale_ = false;  // the spare being opened was overtaken by a newer segment
    std::string spare_path_;
    std::uint64_t spare_sequence_ = 0;

    std::vector<std::unique_ptr<char[]>> arenas_;  // small records; freed after their batch
    char* arena_current_ = nullptr;
    std::size_t arena_used_ = 0;
    std::vector<std::shared_ptr<const void>> keep_alive_;
    std::vector<std::function<void(Status)>> waiting_;
    engine::Clock::time_point first_waiting_since_{};  // when waiting_ last became non-empty
    std::uint32_t commits_expected_ = 0;
    bool flush_wanted_ = false;  // flush() called while a batch was in flight
    engine::TimerQueue::TimerId gather_timer_ = 0;
    engine::Clock::time_point gather_deadline_{};

    std::unique_ptr<Batch> batch_;
    bool batch_in_flight_ = false;
    std::uint64_t epoch_ = 0;
    // Failed batches in a row (a full or failing disk): background writes back off meanwhile.
    int failures_in_a_row_ = 0;
    engine::TimerQueue::TimerId retry_timer_ = 0;

    engine::MemberOperation<SpoolWriter, &SpoolWriter::on_spare_opened> spare_operation_{this};
};

}  // namespace relay::spool
