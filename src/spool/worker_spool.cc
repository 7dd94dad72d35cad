// worker_spool.cc -- staging, committing, indexing, reading back and retiring messages.
#include "relay/spool/worker_spool.h"

#include <fcntl.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <chrono>
#include <cstring>

#include "relay/base/clock.h"
#include "relay/base/log.h"

namespace relay::spool {
namespace {}  // namespace

// ---------------------------------------------------------------------------------------------
// Incoming

WorkerSpool::Incoming::Incoming(WorkerSpool& spool, QueueId id)
    : spool_(spool), id_(id), epoch_(spool.writer_.epoch()), hash_state_(XXH3_createState()) {
    RELAY_ASSERT(hash_state_ != nullptr);
    XXH3_64bits_reset(hash_state_);
}

WorkerSpool::Incoming::~Incoming() {
    XXH3_freeState(hash_state_);
    for (std::uint64_t sequence : pinned_segments_) {
        spool_.pin_segment(sequence, -1);
    }
    if (!pinned_segments_.empty()) {
        spool_.delete_unpinned_segments();
    }
}

void WorkerSpool::Incoming::add_chunk(const RecordLocation& at, std::uint32_t bytes) {
    chunks_.push_back(ChunkRef{at.segment, at.offset, bytes});
    if (pinned_segments_.empty() || pinned_segments_.back() != at.segment) {
        RELAY_ASSERT(pinned_segments_.empty() || pinned_segments_.back() < at.segment);
        spool_.pin_segment(at.segment, +1);
        pinned_segments_.push_back(at.segment);
    }
}

void WorkerSpool::Incoming::append(std::string_view bytes) {
    XXH3_64bits_update(hash_state_, bytes.data(), bytes.size());
    total_bytes_ += bytes.size();
    while (!bytes.empty()) {
        std::size_t room = spool_.options_.chunk_bytes - buffer_.size();
        std::size_t take = std::min(room, bytes.size());
        buffer_.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        if (buffer_.size() == spool_.options_.chunk_bytes && !bytes.empty()) {
            write_chunk();
        }
    }
}

void WorkerSpool::Incoming::write_chunk() {
    auto body = std::make_shared<const std::string>(std::move(buffer_));
    buffer_ = std::string();
    buffer_.reserve(spool_.options_.chunk_bytes);
    std::string_view bytes(*body);
    RecordLocation at = spool_.writer_.append_shared(RecordType::body_chunk, id_, bytes, body);
    add_chunk(at, static_cast<std::uint32_t>(bytes.size()));
    spool_.writer_.flush();  // large messages stream to disk while they arrive
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
        index(std::move(recovered.message), recovered.home_segment, nullptr);
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
    incoming->buffer_.reserve(
        static_cast<std::size_t>(std::clamp<std::uint64_t>(size_hint, 4096, options_.chunk_bytes)));
    return incoming;
}

void WorkerSpool::commit(std::unique_ptr<Incoming> incoming, QueuedMessage message,
                         std::function<void(Result<QueueId>)> done) {
    if (incoming->epoch_ != writer_.epoch()) {
        // A write failed after this message started: some of its chunks may be missing.
        reactor_.defer([done = std::move(done)] {
            done(Error{"the spool could not write part of the message"});
        });
        return;
    }
    QueueId id = incoming->id_;
    Body body;
    if (!incoming->buffer_.empty() || incoming->chunks_.empty()) {
        body = std::make_shared<const std::string>(std::move(incoming->buffer_));
        RecordLocation at = writer_.append_shared(RecordType::body_chunk, id, *body, body);
        incoming->add_chunk(at, static_cast<std::uint32_t>(body->size()));
    }
    message.id = id;
    message.envelope.body_bytes = incoming->total_bytes_;
    message.envelope.body_hash = XXH3_64bits_digest(incoming->hash_state_);
    message.envelope.chunks = incoming->chunks_;
    RecordLocation home = writer_.append(RecordType::message, id, encode_message(message));
    // Only a message held in one chunk is kept whole in memory; it is also the common case.
    bool cache = message.envelope.chunks.size() == 1 && body &&
                 cache_bytes_ + body->size() <= options_.cache_bytes_max;
    auto pending = std::make_shared<QueuedMessage>(std::move(message));
    // The incoming message keeps its chunks' segments pinned until the index pins them.
    std::shared_ptr<Incoming> arriving(std::move(incoming));
    writer_.commit([this, pending, home, arriving, body = cache ? body : nullptr,
                    done = std::move(done)](const Status& status) mutable {
        if (!status) {
            arriving.reset();
            done(status.error());
            return;
        }
        QueueId queued = pending->id;
        index(std::move(*pending), home.segment, body);
        arriving.reset();
        done(queued);
        if (on_queued_) {
            on_queued_(queued);
        }
    });
}

void WorkerSpool::index(QueuedMessage message, std::uint64_t home, Body cached) {
    QueueId id = message.id;
    Entry& entry = messages_[id];
    entry.message = std::move(message);
    entry.home_segment = home;
    if (cached) {
        cache_bytes_ += cached->size();
        entry.cached = std::move(cached);
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

void WorkerSpool::schedule_flush() {
    if (flush_scheduled_) {
        return;
    }
    // At the end of this loop turn: the outcomes of one batch of completions share a write,
    // and a completion reaches the page cache within microseconds, so that even kill -9 (which
    // keeps the page cache) rarely makes relayd send a delivered message again.
    flush_scheduled_ = true;
    reactor_.defer([this] {
        flush_scheduled_ = false;
        writer_.flush();
    });
}

void WorkerSpool::record_recipient(QueueId id, const RecipientDone& done) {
    QueuedMessage* message = find(id);
    RELAY_ASSERT(message != nullptr);
    apply(*message, done);
    writer_.append(RecordType::recipient_done, id, encode_recipient_done(done));
    schedule_flush();
}

void WorkerSpool::record_deferral(QueueId id, const Deferral& deferral) {
    QueuedMessage* message = find(id);
    RELAY_ASSERT(message != nullptr);
    apply(*message, deferral);
    writer_.append(RecordType::deferred, id, encode_deferral(deferral));
    schedule_flush();
}

void WorkerSpool::record_retry_now(QueueId id) {
    QueuedMessage* message = find(id);
    RELAY_ASSERT(message != nullptr);
    message->next_attempt_unix_ms = 0;
    writer_.append(RecordType::retry_now, id, {});
    schedule_flush();
}

void WorkerSpool::finish(QueueId id) {
    auto found = messages_.find(id);
    RELAY_ASSERT(found != messages_.end());
    writer_.append(RecordType::message_done, id, {});
    schedule_flush();
    Entry& entry = found->second;
    if (entry.cached) {
        cache_bytes_ -= entry.cached->size();
    }
    pin(entry, -1);
    messages_.erase(found);
    delete_unpinned_segments();
}

void WorkerSpool::flush(std::function<void()> done) {
    writer_.commit([done = std::move(done)](const Status&) { done(); });
}

// ---------------------------------------------------------------------------------------------
// Reading bodies back

struct WorkerSpool::BodyRead final : engine::Operation {
    WorkerSpool* spool = nullptr;
    QueueId id = 0;
    std::vector<ChunkRef> chunks;
    std::uint64_t expected_hash = 0;
    std::uint64_t expected_bytes = 0;
    std::size_t next_chunk = 0;
    std::string record;  // the chunk record being read
    std::string body;
    std::function<void(Result<Body>)> done;

    void complete(int result, std::uint32_t) override { spool->on_body_read(this, result); }
};

void WorkerSpool::read_body(QueueId id, std::function<void(Result<Body>)> done) {
    auto found = messages_.find(id);
    if (found == messages_.end()) {
        reactor_.defer([done = std::move(done)] { done(Error{"no such message"}); });
        return;
    }
    Entry& entry = found->second;
    if (entry.cached) {
        reactor_.defer([body = entry.cached, done = std::move(done)] { done(body); });
        return;
    }
    auto read = std::make_unique<BodyRead>();
    read->spool = this;
    read->id = id;
    read->chunks = entry.message.envelope.chunks;
    read->expected_hash = entry.message.envelope.body_hash;
    read->expected_bytes = entry.message.envelope.body_bytes;
    read->body.reserve(read->expected_bytes);
    read->done = std::move(done);
    start_read(std::move(read));
}

void WorkerSpool::start_read(std::unique_ptr<BodyRead> read) {
    const ChunkRef& chunk = read->chunks[read->next_chunk];
    auto segment = segments_.find(chunk.segment);
    if (segment == segments_.end()) {
        auto done = std::move(read->done);
        done(Error{"a segment of message " + format_queue_id(read->id) + " is gone"});
        return;
    }
    read->record.resize(record_bytes(chunk.bytes));
    BodyRead* submitted = reads_.adopt(std::move(read));
    io_uring_sqe* sqe = reactor_.prepare(submitted);
    io_uring_prep_read(sqe, segment->second.fd, submitted->record.data(),
                       static_cast<unsigned>(submitted->record.size()), chunk.offset);
}

void WorkerSpool::on_body_read(BodyRead* raw, int result) {
    std::unique_ptr<BodyRead> read = reads_.take(raw);
    const ChunkRef& chunk = read->chunks[read->next_chunk];
    std::string_view record(read->record);
    bool valid = result == static_cast<int>(record.size());
    if (valid) {
        auto header = decode_header(record);
        valid = header && header->type == RecordType::body_chunk && header->queue_id == read->id &&
                header->payload_bytes == chunk.bytes &&
                checksum_matches(record, record.substr(record_header_bytes, chunk.bytes));
    }
    if (!valid) {
        log::error("message {}: a data chunk in segment {:016x} at {} is unreadable",
                   format_queue_id(read->id), chunk.segment, chunk.offset);
        read->done(Error{"the stored message data is damaged"});
        return;
    }
    read->body.append(record.substr(record_header_bytes, chunk.bytes));
    if (++read->next_chunk < read->chunks.size()) {
        start_read(std::move(read));
        return;
    }
    if (read->body.size() != read->expected_bytes ||
        XXH3_64bits(read->body.data(), read->body.size()) != read->expected_hash) {
        read->done(Error{"the stored message data does not match its hash"});
        return;
    }
    read->done(std::make_shared<const std::string>(std::move(read->body)));
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
    if (segments_.size() < 2) {
        return;
    }
    auto oldest = segments_.begin();
    if (!oldest->second.sealed || oldest->second.pins == 0 || oldest->second.pins > 64) {
        return;
    }
    std::vector<QueueId> pinning;
    for (auto& [id, entry] : messages_) {
        if (entry.copying) {
            continue;
        }
        bool pins_oldest = entry.home_segment == oldest->first;
        for (const ChunkRef& chunk : entry.message.envelope.chunks) {
            pins_oldest = pins_oldest || chunk.segment == oldest->first;
        }
        if (pins_oldest) {
            pinning.push_back(id);
        }
    }
    for (QueueId id : pinning) {
        copy_forward(id);
    }
}

void WorkerSpool::copy_forward(QueueId id) {
    messages_.at(id).copying = true;
    read_body(id, [this, id](Result<Body> body) {
        auto found = messages_.find(id);
        if (found == messages_.end()) {
            return;  // finished meanwhile
        }
        Entry& entry = found->second;
        entry.copying = false;
        if (!body) {
            log::error("message {}: cannot copy it out of an old segment: {}", format_queue_id(id),
                       body.error().message);
            return;
        }
        // Append the copy's chunks and its message record now, with the state as it is now;
        // later outcome records follow it in writing order.
        QueuedMessage copy = entry.message;
        copy.envelope.chunks.clear();
        std::string_view bytes(*body.value());
        std::uint64_t epoch = writer_.epoch();
        while (true) {
            std::size_t take = std::min<std::size_t>(bytes.size(), options_.chunk_bytes);
            RecordLocation at = writer_.append_shared(RecordType::body_chunk, id,
                                                      bytes.substr(0, take), body.value());
            copy.envelope.chunks.push_back(
                ChunkRef{at.segment, at.offset, static_cast<std::uint32_t>(take)});
            bytes.remove_prefix(take);
            if (bytes.empty()) {
                break;
            }
        }
        RecordLocation home = writer_.append(RecordType::message, id, encode_message(copy));
        auto chunks = std::make_shared<std::vector<ChunkRef>>(copy.envelope.chunks);
        writer_.commit([this, id, home, chunks, epoch](const Status& status) {
            auto current = messages_.find(id);
            if (!status || epoch != writer_.epoch() || current == messages_.end()) {
                return;  // the original stays authoritative
            }
            Entry& moved = current->second;
            pin(moved, -1);
            moved.message.envelope.chunks = *chunks;
            moved.home_segment = home.segment;
            pin(moved, +1);
            delete_unpinned_segments();
        });
    });
}

}  // namespace relay::spool
