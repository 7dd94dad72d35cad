// worker_spool.cc -- staging, committing, indexing, reading back and retiring messages.
#include "relay/spool/worker_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include "relay/spool/body_reader.h"
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "relay/base/clock.h"
#include "relay/base/log.h"

namespace relay::spool {
namespace {}  // namespace

// ---------------------------------------------------------------------------------------------
// Incoming

WorkerSpool::Incoming::Incoming(WorkerSpool& spool, QueueId id)
    : spool_(spool),
      id_(id),
      epoch_(spool.writer_.epoch()),
      pins_(spool),
      hash_state_(XXH3_createState()) {
    RELAY_ASSERT(hash_state_ != nullptr);
    XXH3_64bits_reset(hash_state_);
}

WorkerSpool::Incoming::~Incoming() {
    XXH3_freeState(hash_state_);
}

WorkerSpool::SegmentPins::~SegmentPins() {
    for (std::uint64_t sequence : sequences_) {
        spool_.pin_segment(sequence, -1);
    }
    if (!sequences_.empty()) {
        spool_.delete_unpinned_segments();
    }
}

void WorkerSpool::SegmentPins::add(std::uint64_t sequence) {
    if (std::find(sequences_.begin(), sequences_.end(), sequence) != sequences_.end()) {
        return;
    }
    spool_.pin_segment(sequence, +1);
    sequences_.push_back(sequence);
}

std::uint64_t WorkerSpool::Incoming::unwritten_bytes() {
    if (epoch_ != spool_.writer_.epoch()) {
        return 0;  // a write failed: the message is refused at its end, its chunks are dropped
    }
    while (unwritten_front_ < unwritten_.size() &&
           spool_.writer_.durable(unwritten_[unwritten_front_].at,
                                  unwritten_[unwritten_front_].bytes)) {
        unwritten_chunk_bytes_ -= unwritten_[unwritten_front_].bytes;
        ++unwritten_front_;
    }
    if (unwritten_front_ == unwritten_.size()) {
        unwritten_.clear();
        unwritten_front_ = 0;
    }
    return unwritten_chunk_bytes_;
}

void WorkerSpool::Incoming::add_chunk(const RecordLocation& at, std::uint32_t bytes) {
    chunks_.push_back(ChunkRef{at.segment, at.offset, bytes});
    unwritten_.push_back(Unwritten{at, record_bytes(bytes)});
    unwritten_chunk_bytes_ += record_bytes(bytes);
    pins_.add(at.segment);
}

void WorkerSpool::Incoming::append(std::string_view bytes) {
    XXH3_64bits_update(hash_state_, bytes.data(), bytes.size());
    total_bytes_ += bytes.size();
    if (bytes.size() >= 2) {
        last_bytes_[0] = bytes[bytes.size() - 2];
        last_bytes_[1] = bytes.back();
    } else if (bytes.size() == 1) {
        last_bytes_[0] = last_bytes_[1];
        last_bytes_[1] = bytes.back();
    }
    while (!bytes.empty()) {
        if (staged_ == capacity_) {
            make_room();
        }
        std::size_t take = std::min(capacity_ - staged_, bytes.size());
        char* end = buffer_.get() + staged_;
        if (bytes.data() != end) {
            // Received elsewhere (a provided buffer), or in place but after a byte the message
            // pass dropped (a stuffed dot): moved to the end of the staged bytes.
            std::memmove(end, bytes.data(), take);
        }
        staged_ += take;
        bytes.remove_prefix(take);
    }
}

// The buffer is full and more bytes come: it grows while it is smaller than a chunk, else it
// becomes a chunk record and a new chunk begins.
void WorkerSpool::Incoming::make_room() {
    const std::size_t chunk_bytes = spool_.options_.chunk_bytes;
    if (capacity_ < chunk_bytes) {
        std::size_t grown =
            std::min<std::size_t>(std::max<std::size_t>(capacity_ * 2, 4096), chunk_bytes);
        std::shared_ptr<char[]> larger(new char[grown]);
        if (staged_ > 0) {
            std::memcpy(larger.get(), buffer_.get(), staged_);
        }
        buffer_ = std::move(larger);
        capacity_ = grown;
        return;
    }
    write_chunk();
}

StagingSpace WorkerSpool::Incoming::receiving_space(std::size_t held_bytes) {
    if (capacity_ < spool_.options_.chunk_bytes) {
        return {};
    }
    if (staged_ == capacity_ && held_bytes == 0) {
        write_chunk();
    }
    std::size_t begin = staged_ + held_bytes;
    if (begin >= capacity_) {
        return {};  // the held bytes reach the chunk's end: this time, a provided buffer
    }
    return StagingSpace{buffer_, std::span<char>(buffer_.get() + begin, capacity_ - begin)};
}

void WorkerSpool::Incoming::write_chunk() {
    const std::size_t chunk_bytes = spool_.options_.chunk_bytes;
    if (epoch_ != spool_.writer_.epoch()) {
        // A write failed since this message began: it will be refused (451) at its end, so
        // its bytes are read to the end but no longer kept.
        staged_ = 0;
        return;
    }
    std::shared_ptr<char[]> chunk = std::move(buffer_);
    std::string_view bytes(chunk.get(), staged_);
    RecordLocation at = spool_.writer_.append_shared(RecordType::body_chunk, id_, bytes, chunk);
    add_chunk(at, static_cast<std::uint32_t>(bytes.size()));
    spool_.writer_.flush();  // large messages stream to disk while they arrive
    buffer_.reset(new char[chunk_bytes]);
    capacity_ = chunk_bytes;
    staged_ = 0;
}

// ---------------------------------------------------------------------------------------------
// Start-up

WorkerSpool::WorkerSpool(engine::Reactor& reactor, int worker, SpoolOptions options,
                         std::atomic<std::uint64_t>& next_sequence, QueueId largest_recovered_id)
    : reactor_(reactor),
      options_(std::move(options)),
      ids_(worker, largest_recovered_id),
      writer_(reactor, worker, options_.segments_folder, options_.segment_bytes_max, next_sequence,
              SegmentEvents{
                  [this](std::uint64_t sequence, int fd, const std::string& path) {
                      segments_[sequence] = SegmentState{fd, path, 0, false};
                  },
                  [this](std::uint64_t sequence) {
                      auto found = segments_.find(sequence);
                      if (found != segments_.end()) {
                          found->second.sealed = true;
                      }
                      delete_unpinned_segments();
                  },
                  [this](std::uint64_t sequence, std::uint64_t bytes) {
                      if (on_durable_) {
                          on_durable_(sequence, bytes);
                      }
                  },
                  [this] {
                      if (!on_written_ || written_scheduled_) {
                          return;
                      }
                      written_scheduled_ = true;
                      reactor_.defer([this] {
                          written_scheduled_ = false;
                          on_written_();
                      });
                  },
              }) {}

WorkerSpool::~WorkerSpool() {
    for (auto& [sequence, segment] : segments_) {
        if (segment.fd >= 0) {
            ::close(segment.fd);
        }
    }
}

Status WorkerSpool::open(const std::vector<SegmentSummary>& segments,
                         std::vector<RecoveredMessage> messages) {
    for (const SegmentSummary& summary : segments) {
        int fd = ::open(summary.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return system_error("cannot open spool segment " + summary.path, errno);
        }
        segments_[summary.sequence] = SegmentState{fd, summary.path, 0, true};
    }
    for (RecoveredMessage& recovered : messages) {
        index(std::move(recovered.message), recovered.home_segment, {}, 0);
    }
    Status opened = writer_.open();
    if (!opened) {
        return opened;
    }
    delete_unpinned_segments();
    return {};
}

// ---------------------------------------------------------------------------------------------
// Ingress

std::unique_ptr<WorkerSpool::Incoming> WorkerSpool::begin_message(std::uint64_t size_hint) {
    std::unique_ptr<Incoming> incoming(new Incoming(*this, ids_.next(unix_ms_now())));
    incoming->capacity_ =
        static_cast<std::size_t>(std::clamp<std::uint64_t>(size_hint, 4096, options_.chunk_bytes));
    incoming->buffer_.reset(new char[incoming->capacity_]);
    return incoming;
}

void WorkerSpool::commit(std::unique_ptr<Incoming> incoming, QueuedMessage message,
                         std::function<void(Result<QueueId>)> done) {
    if (incoming->epoch_ != writer_.epoch()) {
        // A write failed after this message started: some of its chunks may be missing.
        reactor_.defer([done = std::move(done)] {
            done(make_error(ErrorCode::unavailable, Blame::relay,
                            "the spool could not write part of the message"));
        });
        return;
    }
    QueueId id = incoming->id_;
    BodyPiece body;
    std::size_t body_memory = 0;
    if (incoming->staged_ > 0 || incoming->chunks_.empty()) {
        body = BodyPiece{incoming->buffer_,
                         std::string_view(incoming->buffer_.get(), incoming->staged_)};
        body_memory = incoming->capacity_;
        RecordLocation at =
            writer_.append_shared(RecordType::body_chunk, id, body.bytes, body.owner);
        incoming->add_chunk(at, static_cast<std::uint32_t>(body.bytes.size()));
    }
    message.id = id;
    message.envelope.body_bytes = incoming->total_bytes_;
    message.envelope.body_hash = XXH3_64bits_digest(incoming->hash_state_);
    message.envelope.ends_with_crlf =
        incoming->total_bytes_ == 0 ||
        (incoming->total_bytes_ >= 2 && incoming->last_bytes_[0] == '\r' &&
         incoming->last_bytes_[1] == '\n');
    message.envelope.chunks = incoming->chunks_;
    RecordLocation home = writer_.append(RecordType::message, id, encode_message(message));
    // Only a message held in one chunk is kept whole in memory; it is also the common case.
    bool cache = message.envelope.chunks.size() == 1 && body.owner &&
                 cache_bytes_ + body_memory <= options_.cache_bytes_max;
    if (!cache) {
        body = {};
        body_memory = 0;
    }
    auto pending = std::make_shared<QueuedMessage>(std::move(message));
    // The incoming message keeps its chunks' segments pinned until the index pins them.
    std::shared_ptr<Incoming> arriving(std::move(incoming));
    writer_.commit([this, pending, home, arriving, body = std::move(body), body_memory,
                    done = std::move(done)](const Status& status) mutable {
        if (!status) {
            arriving.reset();
            done(status.error());
            return;
        }
        QueueId queued = pending->id;
        index(std::move(*pending), home.segment, std::move(body), body_memory);
        arriving.reset();
        done(queued);
        if (on_queued_) {
            on_queued_(queued);
        }
    });
}

void WorkerSpool::index(QueuedMessage message, std::uint64_t home, BodyPiece cached,
                        std::size_t cached_bytes) {
    QueueId id = message.id;
    Entry& entry = messages_[id];
    entry.message = std::move(message);
    entry.home_segment = home;
    if (cached.owner) {
        cache_bytes_ += cached_bytes;
        entry.cached = std::move(cached);
        entry.cached_bytes = cached_bytes;
    }
    pin(entry, +1);
}

void WorkerSpool::pin_segment(std::uint64_t sequence, int delta) {
    auto found = segments_.find(sequence);
    if (found == segments_.end()) {
        return;
    }
    if (delta > 0) {
        ++found->second.pins;
    } else {
        RELAY_ASSERT(found->second.pins > 0);
        --found->second.pins;
    }
}

void WorkerSpool::pin(const Entry& entry, int delta) {
    std::uint64_t last = 0;
    auto touch = [&](std::uint64_t sequence) {
        if (sequence == last) {
            return;  // consecutive chunks in one segment pin it once
        }
        last = sequence;
        pin_segment(sequence, delta);
    };
    for (const ChunkRef& chunk : entry.message.envelope.chunks) {
        touch(chunk.segment);
    }
    touch(entry.home_segment);
}

// ---------------------------------------------------------------------------------------------
// Delivery state

QueuedMessage* WorkerSpool::find(QueueId id) {
    auto found = messages_.find(id);
    return found == messages_.end() ? nullptr : &found->second.message;
}

void WorkerSpool::record_recipient(QueueId id, const RecipientDone& done) {
    QueuedMessage* message = find(id);
    RELAY_ASSERT(message != nullptr);
    apply(*message, done);
    writer_.append(RecordType::recipient_done, id, encode_recipient_done(done));
    writer_.flush_soon();
}

void WorkerSpool::record_deferral(QueueId id, const Deferral& deferral) {
    QueuedMessage* message = find(id);
    RELAY_ASSERT(message != nullptr);
    apply(*message, deferral);
    writer_.append(RecordType::deferred, id, encode_deferral(deferral));
    writer_.flush_soon();
}

void WorkerSpool::record_retry_now(QueueId id) {
    QueuedMessage* message = find(id);
    RELAY_ASSERT(message != nullptr);
    message->next_attempt_unix_ms = 0;
    writer_.append(RecordType::retry_now, id, {});
    writer_.flush_soon();
}

void WorkerSpool::finish(QueueId id) {
    auto found = messages_.find(id);
    RELAY_ASSERT(found != messages_.end());
    writer_.append(RecordType::message_done, id, {});
    writer_.flush_soon();
    Entry& entry = found->second;
    if (entry.cached.owner) {
        cache_bytes_ -= entry.cached_bytes;
    }
    pin(entry, -1);
    messages_.erase(found);
    delete_unpinned_segments();
}

void WorkerSpool::flush(std::function<void(const Status&)> done) {
    writer_.commit(std::move(done));
}

// ---------------------------------------------------------------------------------------------
// Reading bodies back (body_reader.cc reads the pieces)

std::unique_ptr<WorkerSpool::BodyReader> WorkerSpool::open_body(QueueId id,
                                                                std::size_t piece_bytes) {
    auto found = messages_.find(id);
    if (found == messages_.end()) {
        return nullptr;
    }
    const Entry& entry = found->second;
    return std::unique_ptr<BodyReader>(
        new BodyReader(*this, id, entry.message.envelope, entry.cached, piece_bytes));
}

namespace {

// Reads pieces until `wanted` bytes (or the whole body) are collected. Owns the reader.
struct Collect : std::enable_shared_from_this<Collect> {
    std::unique_ptr<WorkerSpool::BodyReader> reader;
    std::uint64_t wanted = 0;
    std::string bytes;
    std::function<void(Result<std::string>)> done;

    void next() {
        if (reader->at_end() || bytes.size() >= wanted) {
            bytes.resize(std::min<std::uint64_t>(bytes.size(), wanted));
            auto finished = std::move(done);
            finished(std::move(bytes));
            return;
        }
        reader->read([self = shared_from_this()](Result<BodyPiece> piece) {
            if (!piece) {
                auto finished = std::move(self->done);
                finished(piece.error());
                return;
            }
            self->bytes.append(piece.value().bytes);
            self->next();
        });
    }
};

}  // namespace

void WorkerSpool::read_headers(QueueId id, std::function<void(Result<std::string>)> done) {
    auto found = messages_.find(id);
    if (found == messages_.end()) {
        reactor_.defer([done = std::move(done)] {
            done(make_error(ErrorCode::not_found, Blame::client, "no such message"));
        });
        return;
    }
    auto collect = std::make_shared<Collect>();
    collect->wanted = found->second.message.envelope.header_bytes;
    collect->reader = open_body(id, std::max<std::size_t>(collect->wanted, 1));
    collect->done = std::move(done);
    collect->next();
}

void WorkerSpool::after_read() {
    if (reads_.empty()) {
        delete_unpinned_segments();
    }
}

// ---------------------------------------------------------------------------------------------
// Segment retirement and compaction

struct WorkerSpool::SegmentUnlink final : engine::Operation {
    SegmentUnlink(WorkerSpool& owner_, std::string path_) : owner(owner_), path(std::move(path_)) {}

    void complete(int result, std::uint32_t) override {
        if (result < 0 && result != -ENOENT) {
            log::warning("cannot remove spool segment {}: {}", path,
                         system_error("unlink", result).message);
        }
        owner.unlinks_.take(this);  // destroys this
    }

    WorkerSpool& owner;
    std::string path;
};

void WorkerSpool::delete_unpinned_segments() {
    while (!segments_.empty()) {
        auto oldest = segments_.begin();
        SegmentState& segment = oldest->second;
        if (!segment.sealed || segment.pins > 0) {
            return;
        }
        if (!reads_.empty()) {
            return;  // a read may target it; retried at the next finish
        }
        // Unlinking a large file frees its extents, which may take a while: the ring does it.
        SegmentUnlink* unlink =
            unlinks_.adopt(std::make_unique<SegmentUnlink>(*this, segment.path));
        io_uring_sqe* sqe = reactor_.prepare(unlink);
        io_uring_prep_unlinkat(sqe, AT_FDCWD, unlink->path.c_str(), 0);
        ::close(segment.fd);
        segments_.erase(oldest);
    }
}

void WorkerSpool::compact() {
    if (segments_.size() < 2 || copying_ || !copy_queue_.empty()) {
        return;
    }
    auto oldest = segments_.begin();
    if (!oldest->second.sealed || oldest->second.pins == 0 || oldest->second.pins > 64) {
        return;
    }
    for (auto& [id, entry] : messages_) {
        bool pins_oldest = entry.home_segment == oldest->first;
        for (const ChunkRef& chunk : entry.message.envelope.chunks) {
            pins_oldest = pins_oldest || chunk.segment == oldest->first;
        }
        if (pins_oldest) {
            copy_queue_.push_back(id);
        }
    }
    copy_next();
}

// A message being copied forward: its bytes are read piece by piece and appended as new
// chunks as they come, so that a copy holds at most a piece or two in memory whatever the
// message's size. The new message record is appended only after the last piece (whose read
// verified the whole body): a copy cut short leaves chunks no message record names.
struct WorkerSpool::Copy {
    QueueId id = 0;
    std::unique_ptr<BodyReader> reader;
    std::vector<ChunkRef> chunks;
    std::uint64_t epoch = 0;
};

void WorkerSpool::copy_next() {
    while (!copying_ && !copy_queue_.empty()) {
        QueueId id = copy_queue_.front();
        copy_queue_.pop_front();
        auto found = messages_.find(id);
        if (found == messages_.end()) {
            continue;  // finished meanwhile
        }
        auto copy = std::make_shared<Copy>();
        copy->id = id;
        copy->reader = open_body(id, options_.chunk_bytes);
        copy->epoch = writer_.epoch();
        copying_ = true;
        copy_piece(copy);
    }
}

void WorkerSpool::copy_piece(const std::shared_ptr<Copy>& copy) {
    if (copy->reader->at_end()) {
        finish_copy(copy);
        return;
    }
    copy->reader->read([this, copy](Result<BodyPiece> piece) {
        if (!piece || !messages_.contains(copy->id) || copy->epoch != writer_.epoch()) {
            if (!piece) {
                log::error("message {}: cannot copy it out of an old segment: {}",
                           format_queue_id(copy->id), piece.error().message);
            }
            copying_ = false;  // the original stays authoritative
            copy_next();
            return;
        }
        const BodyPiece& bytes = piece.value();
        RecordLocation at =
            writer_.append_shared(RecordType::body_chunk, copy->id, bytes.bytes, bytes.owner);
        copy->chunks.push_back(
            ChunkRef{at.segment, at.offset, static_cast<std::uint32_t>(bytes.bytes.size())});
        writer_.flush();
        copy_piece(copy);
    });
}

void WorkerSpool::finish_copy(const std::shared_ptr<Copy>& copy) {
    copy->reader.reset();
    Entry& entry = messages_.at(copy->id);
    // The copy carries the state as it is now; later outcome records follow it in writing order.
    QueuedMessage moved = entry.message;
    moved.envelope.chunks = copy->chunks;
    RecordLocation home = writer_.append(RecordType::message, copy->id, encode_message(moved));
    writer_.commit([this, copy, home](const Status& status) {
        copying_ = false;
        auto current = messages_.find(copy->id);
        if (status && copy->epoch == writer_.epoch() && current != messages_.end()) {
            Entry& entry = current->second;
            pin(entry, -1);
            entry.message.envelope.chunks = copy->chunks;
            entry.home_segment = home.segment;
            pin(entry, +1);
            delete_unpinned_segments();
        }
        copy_next();
    });
}

}  // namespace relay::spool
