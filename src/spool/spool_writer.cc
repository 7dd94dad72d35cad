// spool_writer.cc -- appending records and group commit over the worker's ring.
#include "relay/spool/spool_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "relay/base/clock.h"
#include "relay/base/log.h"

namespace relay::spool {
namespace {

constexpr std::size_t arena_block_bytes = 64 * 1024;
constexpr std::size_t iovecs_per_write_max = 512;  // below IOV_MAX (1024)
constexpr char padding[8] = {};

std::string segment_file_name(std::uint64_t sequence) {
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.seg", static_cast<unsigned long long>(sequence));
    return name;
}

}  // namespace

struct SpoolWriter::Segment {
    std::uint64_t sequence = 0;
    int fd = -1;
    std::string path;
    std::uint64_t size = 0;     // bytes appended: the offset of the next record
    std::uint64_t written = 0;  // bytes handed to batches
    std::uint64_t durable = 0;  // bytes of batches that succeeded
    std::vector<iovec> pending;
    bool sealed = false;
    bool needs_folder_sync = false;
};

// One group commit in flight: its operations, and what must live until they complete.
struct SpoolWriter::Batch {
    struct Step final : engine::Operation {
        SpoolWriter* writer = nullptr;
        std::int64_t expected = 0;  // bytes for a write, 0 for a sync
        void complete(int result, std::uint32_t) override {
            // The first failure is the cause: the linked steps after it end with ECANCELED. A
            // write to a regular file comes back short only when the file system ran out of
            // room (or quota), so a short write counts as ENOSPC: the client is told so (452).
            if ((result < 0 || result != expected) && writer->batch_->failed_result == 0) {
                writer->batch_->failed_result = result < 0 ? result : -ENOSPC;
            }
            writer->on_batch_operation();
        }
    };
    std::vector<std::unique_ptr<Step>> steps;
    std::vector<std::vector<iovec>> iovec_lists;
    std::vector<std::unique_ptr<char[]>> arenas;
    std::vector<std::shared_ptr<const void>> keep_alive;
    std::vector<std::function<void(Status)>> waiting;
    std::vector<Segment*> touched;
    std::size_t outstanding = 0;
    int failed_result = 0;
};

SpoolWriter::SpoolWriter(engine::Reactor& reactor, int worker, std::string segments_folder,
                         std::uint64_t segment_bytes_max, std::atomic<std::uint64_t>& next_sequence,
                         SegmentEvents events)
    : reactor_(reactor),
      worker_(worker),
      folder_(std::move(segments_folder)),
      segment_bytes_max_(segment_bytes_max),
      next_sequence_(next_sequence),
      events_(std::move(events)) {}

SpoolWriter::~SpoolWriter() {
    RELAY_ASSERT(!batch_in_flight_ && !spare_opening_);
    reactor_.timers().cancel(retry_timer_);
    reactor_.timers().cancel(gather_timer_);
    if (spare_ && spare_->fd >= 0) {
        ::close(spare_->fd);  // never handed out: an empty file the next recovery removes
    }
    if (folder_fd_ >= 0) {
        ::close(folder_fd_);
    }
}

Result<int> SpoolWriter::create_segment_file_blocking(std::uint64_t sequence, std::string& path) {
    path = folder_ + "/" + segment_file_name(sequence);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return system_error("cannot create spool segment " + path, errno);
    }
    return fd;
}

Status SpoolWriter::open() {
    folder_fd_ = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder_fd_ < 0) {
        return system_error("cannot open spool folder " + folder_, errno);
    }
    auto segment = std::make_unique<Segment>();
    segment->sequence = next_sequence_.fetch_add(1);
    auto fd = create_segment_file_blocking(segment->sequence, segment->path);
    if (!fd) {
        return fd.error();
    }
    segment->fd = fd.value();
    segment->needs_folder_sync = true;
    events_.created(segment->sequence, segment->fd, segment->path);
    segments_.push_back(std::move(segment));
    write_segment_header(*segments_.back());
    return {};
}

bool SpoolWriter::durable(const RecordLocation& at, std::size_t bytes) const {
    for (const auto& segment : segments_) {
        if (segment->sequence == at.segment) {
            return at.offset + bytes <= segment->durable;
        }
    }
    return true;
}

std::uint64_t SpoolWriter::active_sequence() const {
    return segments_.back()->sequence;
}

SpoolWriter::Segment& SpoolWriter::active() {
    return *segments_.back();
}

void SpoolWriter::write_segment_header(Segment& segment) {
    std::string payload;
    TlvWriter writer(payload);
    writer.u64(1, segment_format_version);
    writer.u64(2, static_cast<std::uint64_t>(worker_));
    writer.u64(3, segment.sequence);
    writer.u64(4, unix_ms_now());
    RELAY_ASSERT(segment.size == 0);
    std::string record;
    append_record(record, RecordType::segment_header, 0, payload);
    char* space = arena_space(record.size());
    std::copy_n(record.data(), record.size(), space);
    add_piece(segment, space, record.size());
}

char* SpoolWriter::arena_space(std::size_t bytes) {
    if (bytes > arena_block_bytes) {
        arenas_.push_back(std::make_unique<char[]>(bytes));
        return arenas_.back().get();
    }
    if (arena_current_ == nullptr || arena_used_ + bytes > arena_block_bytes) {
        arenas_.push_back(std::make_unique<char[]>(arena_block_bytes));
        arena_current_ = arenas_.back().get();
        arena_used_ = 0;
    }
    char* space = arena_current_ + arena_used_;
    arena_used_ += bytes;
    return space;
}

void SpoolWriter::add_piece(Segment& segment, const char* data, std::size_t bytes) {
    if (bytes == 0) {
        return;
    }
    if (!segment.pending.empty()) {
        iovec& last = segment.pending.back();
        if (static_cast<const char*>(last.iov_base) + last.iov_len == data) {
            last.iov_len += bytes;
            segment.size += bytes;
            return;
        }
    }
    segment.pending.push_back(iovec{const_cast<char*>(data), bytes});
    segment.size += bytes;
}

void SpoolWriter::maybe_rotate(std::size_t next_record_bytes) {
    Segment& current = active();
    if (current.size + next_record_bytes <= segment_bytes_max_ ||
        current.size <= record_bytes(64)) {
        if (!spare_ && !spare_opening_ && current.size > segment_bytes_max_ / 2) {
            prepare_spare();
        }
        return;
    }
    rotate();
}

void SpoolWriter::rotate() {
    Segment& current = active();
    std::unique_ptr<Segment> next;
    if (spare_) {
        RELAY_ASSERT(spare_->sequence > current.sequence);
        next = std::move(spare_);
    } else {
        // A spare still being opened has an older sequence number than the segment made now:
        // it can never follow it (segments must be used in sequence order: recovery reads them
        // so, and retirement deletes them so), so it is thrown away when it arrives.
        spare_stale_ = spare_opening_;
        // The spare is not ready (or could not be created): create one now. Blocking, but only
        // when rotation outruns the asynchronous creation, which a 1 MiB+ segment makes rare.
        next = std::make_unique<Segment>();
        next->sequence = next_sequence_.fetch_add(1);
        auto fd = create_segment_file_blocking(next->sequence, next->path);
        if (!fd) {
            log::error("{}", fd.error().message);
            return;  // keep appending to the current segment; retry at the next record
        }
        next->fd = fd.value();
        next->needs_folder_sync = true;
    }
    current.sealed = true;
    events_.created(next->sequence, next->fd, next->path);
    segments_.push_back(std::move(next));
    write_segment_header(active());
}

void SpoolWriter::prepare_spare() {
    spare_opening_ = true;
    spare_sequence_ = next_sequence_.fetch_add(1);
    spare_path_ = folder_ + "/" + segment_file_name(spare_sequence_);
    io_uring_sqe* sqe = reactor_.prepare(&spare_operation_);
    io_uring_prep_openat(sqe, AT_FDCWD, spare_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                         0600);
}

void SpoolWriter::on_spare_opened(int result, std::uint32_t) {
    spare_opening_ = false;
    if (result < 0) {
        log::warning("cannot create spool segment {}: {}", spare_path_,
                     system_error("open", result).message);
        return;
    }
    if (spare_stale_) {
        spare_stale_ = false;
        // An empty file: removing it is a quick metadata change, and this path is rare (only
        // when rotation outran the asynchronous creation).
        ::close(result);
        ::unlink(spare_path_.c_str());
        return;
    }
    spare_ = std::make_unique<Segment>();
    spare_->sequence = spare_sequence_;
    spare_->fd = result;
    spare_->path = spare_path_;
    spare_->needs_folder_sync = true;
}

RecordLocation SpoolWriter::append(RecordType type, std::uint64_t queue_id,
                                   std::string_view payload) {
    std::size_t bytes = record_bytes(payload.size());
    maybe_rotate(bytes);
    Segment& segment = active();
    RecordLocation location{segment.sequence, segment.size};
    std::string record;
    record.reserve(bytes);
    append_record(record, type, queue_id, payload);
    char* space = arena_space(record.size());
    std::copy_n(record.data(), record.size(), space);
    add_piece(segment, space, record.size());
    return location;
}

RecordLocation SpoolWriter::append_shared(RecordType type, std::uint64_t queue_id,
                                          std::string_view payload,
                                          std::shared_ptr<const void> keep_alive) {
    std::size_t bytes = record_bytes(payload.size());
    maybe_rotate(bytes);
    Segment& segment = active();
    RecordLocation location{segment.sequence, segment.size};

    auto header = make_record_header(type, queue_id, payload);
    char* head = arena_space(record_header_bytes);
    std::memcpy(head, header.data(), record_header_bytes);
    add_piece(segment, head, record_header_bytes);
    add_piece(segment, payload.data(), payload.size());
    std::size_t pad = padded_bytes(payload.size()) - payload.size();
    if (pad > 0) {
        char* tail = arena_space(pad);
        std::memcpy(tail, padding, pad);
        add_piece(segment, tail, pad);
    }
    keep_alive_.push_back(std::move(keep_alive));
    return location;
}

bool SpoolWriter::pending_empty() const {
    for (const auto& segment : segments_) {
        if (!segment->pending.empty()) {
            return false;
        }
    }
    return true;
}

void SpoolWriter::commit(std::function<void(Status)> done) {
    if (waiting_.empty()) {
        first_waiting_since_ = reactor_.now();
    }
    waiting_.push_back(std::move(done));
    schedule_batch();
}

void SpoolWriter::flush() {
    if (batch_in_flight_) {
        flush_wanted_ = true;
    } else if (retry_timer_ == 0 && !pending_empty()) {
        start_batch();
    }
}

void SpoolWriter::flush_soon() {
    if (!batch_in_flight_ && retry_timer_ == 0 && !pending_empty()) {
        gather_until(reactor_.now() + background_flush_delay);
    }
}

void SpoolWriter::expect_commit() {
    ++commits_expected_;
}

void SpoolWriter::end_expected_commit() {
    RELAY_ASSERT(commits_expected_ > 0);
    --commits_expected_;
    if (commits_expected_ == 0) {
        schedule_batch();  // commits that waited for this one go now
    }
}

// What the state asks for when no batch is in flight: commits go at once unless others are
// expected (then at most commit_gather_wait after the first of them arrived); records nobody
// waits for go when flush() asked, or after background_flush_delay; after a failure, only
// commits try at once (the retry timer paces the rest).
void SpoolWriter::schedule_batch() {
    if (batch_in_flight_) {
        return;
    }
    if (!waiting_.empty()) {
        if (commits_expected_ == 0) {
            start_batch();
        } else {
            gather_until(first_waiting_since_ + commit_gather_wait);
        }
        return;
    }
    if (pending_empty()) {
        return;
    }
    if (failures_in_a_row_ > 0) {
        retry_later();
    } else if (flush_wanted_) {
        start_batch();
    } else {
        gather_until(reactor_.now() + background_flush_delay);
    }
}

// Arms (or brings forward) the timer that starts the next batch.
void SpoolWriter::gather_until(engine::Clock::time_point deadline) {
    if (gather_timer_ != 0) {
        if (gather_deadline_ <= deadline) {
            return;
        }
        reactor_.timers().cancel(gather_timer_);
    }
    gather_deadline_ = deadline;
    gather_timer_ = reactor_.timers().add(deadline, [this] {
        gather_timer_ = 0;
        if (batch_in_flight_) {
            return;
        }
        if (!waiting_.empty() || failures_in_a_row_ == 0) {
            start_batch();
        } else {
            retry_later();
        }
    });
}

void SpoolWriter::start_batch() {
    RELAY_ASSERT(!batch_in_flight_);
    if (pending_empty() && waiting_.empty()) {
        return;
    }
    if (gather_timer_ != 0) {
        reactor_.timers().cancel(gather_timer_);
        gather_timer_ = 0;
    }
    flush_wanted_ = false;
    batch_ = std::make_unique<Batch>();
    Batch& batch = *batch_;
    batch.waiting.swap(waiting_);
    batch.arenas.swap(arenas_);
    arena_current_ = nullptr;
    arena_used_ = 0;
    batch.keep_alive.swap(keep_alive_);
    bool folder_sync = false;
    for (auto& segment : segments_) {
        if (!segment->pending.empty()) {
            folder_sync = folder_sync || segment->needs_folder_sync;
            segment->needs_folder_sync = false;
            submit_segment(batch, *segment);
        }
    }
    if (folder_sync) {
        auto step = std::make_unique<Batch::Step>();
        step->writer = this;
        io_uring_sqe* sqe = reactor_.prepare(step.get());
        io_uring_prep_fsync(sqe, folder_fd_, 0);
        batch.steps.push_back(std::move(step));
        ++batch.outstanding;
    }
    batch_in_flight_ = true;
    if (batch.outstanding == 0) {
        // Nothing to write (commit with nothing appended): complete on the next turn.
        ++batch.outstanding;
        reactor_.defer([this] { on_batch_operation(); });
    }
}

// One linked chain per group of writes: writev... -> fdatasync, reserved whole in the submission
// queue (links do not span submissions). A segment with more writes than one chain can hold
// gets several chains, each with its own fdatasync: the batch completes only when all did.
// The usual batch (one writev) is a single write with RWF_DSYNC instead: the same guarantee for
// its bytes (everything before them was made durable by earlier batches, or cut off after a
// failure), in one operation, so one io-wq hand-off and one completion per flush instead of two.
void SpoolWriter::submit_segment(Batch& batch, Segment& segment) {
    batch.iovec_lists.push_back(std::move(segment.pending));
    segment.pending.clear();
    std::vector<iovec>& iovecs = batch.iovec_lists.back();
    batch.touched.push_back(&segment);
    const std::size_t chain_writes_max = reactor_.capacity() - 1;
    std::size_t index = 0;
    while (index < iovecs.size()) {
        std::size_t writes =
            std::min(chain_writes_max,
                     (iovecs.size() - index + iovecs_per_write_max - 1) / iovecs_per_write_max);
        reactor_.reserve(static_cast<unsigned>(writes + 1));
        for (std::size_t write = 0; write < writes; ++write) {
            std::size_t count = std::min(iovecs_per_write_max, iovecs.size() - index);
            std::int64_t bytes = 0;
            for (std::size_t at = index; at < index + count; ++at) {
                bytes += static_cast<std::int64_t>(iovecs[at].iov_len);
            }
            auto step = std::make_unique<Batch::Step>();
            step->writer = this;
            step->expected = bytes;
            io_uring_sqe* sqe = reactor_.prepare(step.get());
            if (writes == 1) {
                io_uring_prep_writev2(sqe, segment.fd, &iovecs[index], static_cast<unsigned>(count),
                                      segment.written, RWF_DSYNC);
            } else {
                io_uring_prep_writev(sqe, segment.fd, &iovecs[index], static_cast<unsigned>(count),
                                     segment.written);
                sqe->flags |= IOSQE_IO_LINK;  // the fdatasync must not start before the writes
            }
            segment.written += static_cast<std::uint64_t>(bytes);
            batch.steps.push_back(std::move(step));
            ++batch.outstanding;
            index += count;
        }
        if (writes == 1) {
            continue;
        }
        auto sync = std::make_unique<Batch::Step>();
        sync->writer = this;
        io_uring_sqe* sqe = reactor_.prepare(sync.get());
        io_uring_prep_fsync(sqe, segment.fd, IORING_FSYNC_DATASYNC);
        batch.steps.push_back(std::move(sync));
        ++batch.outstanding;
    }
}

void SpoolWriter::on_batch_operation() {
    RELAY_ASSERT(batch_ && batch_->outstanding > 0);
    if (--batch_->outstanding == 0) {
        finish_batch();
    }
}

void SpoolWriter::finish_batch() {
    std::unique_ptr<Batch> batch = std::move(batch_);
    batch_in_flight_ = false;
    Status status;
    if (batch->failed_result != 0) {
        status = system_error("cannot write the spool", batch->failed_result);
        if (failures_in_a_row_++ == 0) {
            log::error("worker {}: {}; messages are refused with 451 until writes succeed", worker_,
                       status.error().message);
        }
        ++epoch_;
        recover_from_failure(batch->touched);
    } else {
        for (Segment* segment : batch->touched) {
            segment->durable = segment->written;
            if (events_.durable) {
                events_.durable(segment->sequence, segment->durable);
            }
        }
        if (failures_in_a_row_ > 0) {
            log::info("worker {}: the spool is writable again after {} failed writes", worker_,
                      failures_in_a_row_);
            failures_in_a_row_ = 0;
        }
    }
    // Segments that are sealed and fully written are handed to their owner for reading only.
    while (segments_.size() > 1 && segments_.front()->sealed &&
           segments_.front()->pending.empty()) {
        events_.sealed(segments_.front()->sequence);
        segments_.pop_front();
    }
    for (auto& done : batch->waiting) {
        done(status);
    }
    if (events_.batch_finished) {
        events_.batch_finished();
    }
    if (batch_in_flight_) {
        return;  // a callback above appended and flushed: the next batch is on its way
    }
    schedule_batch();
}

void SpoolWriter::recover_from_failure(const std::vector<Segment*>& touched) {
    // Cut off what the failed batch left: a record of it that reached the disk whole must not
    // be found by the next recovery, since its message was refused. Shrinking a file needs no
    // free space, so this works on a full disk too. Blocking, but only on this error path.
    bool cut = true;
    for (Segment* segment : touched) {
        if (::ftruncate(segment->fd, static_cast<off_t>(segment->durable)) != 0 ||
            ::fdatasync(segment->fd) != 0) {
            log::error("worker {}: {}", worker_,
                       system_error("cannot cut spool segment " + segment->path + " back to " +
                                        std::to_string(segment->durable) + " bytes",
                                    errno)
                           .message);
            cut = false;
        }
    }
    Segment& current = active();
    if (cut && current.pending.empty()) {
        // The file ends where its last good batch ended, and nothing is placed after the failed
        // bytes: go on from there. Opening a new segment instead would make a file per attempt
        // while the disk stays full.
        current.size = current.durable;
        current.written = current.durable;
        if (current.size == 0) {
            write_segment_header(current);
        }
        return;
    }
    // What follows the failure in this segment cannot be trusted to line up: seal it.
    rotate();
}

void SpoolWriter::retry_later() {
    if (retry_timer_ != 0) {
        return;
    }
    // 100 ms after the first failure, doubling up to 5 s.
    auto delay = std::chrono::milliseconds(100 << std::min(failures_in_a_row_ - 1, 6));
    delay = std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(5));
    retry_timer_ = reactor_.timers().add(reactor_.now() + delay, [this] {
        retry_timer_ = 0;
        if (!batch_in_flight_ && (!waiting_.empty() || !pending_empty())) {
            start_batch();
        }
    });
}

}  // namespace relay::spool
