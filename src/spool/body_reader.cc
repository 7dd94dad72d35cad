// body_reader.cc -- reading a message's stored bytes back in verified pieces.
//
// Untrusted bytes: what comes back from the disk (a torn write, a damaged sector, a file an
// operator replaced). Every chunk record is checked before its last piece is handed on, and
// the whole body before the last piece of the message.
#include "relay/spool/body_reader.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>

#include "relay/base/log.h"

namespace relay::spool {
namespace {

constexpr std::size_t buffers_max = 4;  // a consumer holds one or two pieces at a time

}  // namespace

void internal::BodyRead::complete(int result, std::uint32_t) {
    WorkerSpool& owner = *spool;
    std::unique_ptr<BodyRead> self = owner.reads_.take(this);
    if (reader != nullptr) {
        reader->on_read(std::move(self), result);  // may destroy the reader
    }
    owner.after_read();
}

WorkerSpool::BodyReader::BodyReader(WorkerSpool& spool, QueueId id, const Envelope& envelope,
                                    BodyPiece cached, std::size_t piece_bytes)
    : spool_(spool),
      id_(id),
      chunks_(envelope.chunks),
      cached_(std::move(cached)),
      body_bytes_(envelope.body_bytes),
      body_hash_(envelope.body_hash),
      piece_bytes_(std::max<std::size_t>(piece_bytes, 1)),
      record_hash_(nullptr),
      body_hash_state_(nullptr),
      pins_(spool) {
    for (const ChunkRef& chunk : chunks_) {
        pins_.add(chunk.segment);
    }
}

WorkerSpool::BodyReader::~BodyReader() {
    if (in_flight_ != nullptr) {
        in_flight_->reader = nullptr;
        in_flight_->done = nullptr;
    }
    XXH3_freeState(record_hash_);  // null for a cached message: nothing was read
    XXH3_freeState(body_hash_state_);
}

Error WorkerSpool::BodyReader::damaged(std::string_view what) const {
    return make_error(
        ErrorCode::data_loss, Blame::relay,
        "the stored data of message " + format_queue_id(id_) + " is damaged: " + std::string(what));
}

std::shared_ptr<char[]> WorkerSpool::BodyReader::take_buffer() {
    for (const auto& buffer : buffers_) {
        if (buffer.use_count() == 1) {
            return buffer;  // the consumer is done with it
        }
    }
    std::shared_ptr<char[]> buffer(new char[piece_bytes_]);
    if (buffers_.size() < buffers_max) {
        buffers_.push_back(buffer);
    }
    return buffer;
}

void WorkerSpool::BodyReader::read(std::function<void(Result<BodyPiece>)> done) {
    RELAY_ASSERT(in_flight_ == nullptr && !at_end_);
    if (cached_.owner) {
        read_cached(std::move(done));
        return;
    }
    if (chunk_index_ >= chunks_.size()) {
        spool_.reactor_.defer([this, done = std::move(done)] {
            done(damaged("its chunks hold fewer bytes than the message"));
        });
        return;
    }
    if (body_hash_state_ == nullptr) {
        // Made at the first read from disk only: a cached message needs no checks.
        record_hash_ = XXH3_createState();
        body_hash_state_ = XXH3_createState();
        RELAY_ASSERT(record_hash_ != nullptr && body_hash_state_ != nullptr);
        XXH3_64bits_reset(body_hash_state_);
    }
    const ChunkRef& chunk = chunks_[chunk_index_];
    auto segment = spool_.segments_.find(chunk.segment);
    if (segment == spool_.segments_.end()) {
        spool_.reactor_.defer([this, done = std::move(done), sequence = chunk.segment] {
            done(make_error(ErrorCode::data_loss, Blame::relay,
                            "a segment of message " + format_queue_id(id_) + " is gone (" +
                                std::to_string(sequence) + ")"));
        });
        return;
    }
    auto read = std::make_unique<internal::BodyRead>();
    read->spool = &spool_;
    read->reader = this;
    read->bytes = std::min<std::size_t>(piece_bytes_, chunk.bytes - chunk_read_bytes_);
    read->with_header = chunk_read_bytes_ == 0;
    read->buffer = take_buffer();
    read->done = std::move(done);
    internal::BodyRead* submitted = spool_.reads_.adopt(std::move(read));
    in_flight_ = submitted;
    io_uring_sqe* sqe = spool_.reactor_.prepare(submitted);
    if (submitted->with_header) {
        // The record header into its own small buffer, the payload straight into the piece.
        submitted->vectors[0] = iovec{submitted->header, record_header_bytes};
        submitted->vectors[1] = iovec{submitted->buffer.get(), submitted->bytes};
        io_uring_prep_readv(sqe, segment->second.fd, submitted->vectors,
                            submitted->bytes > 0 ? 2 : 1, chunk.offset);
    } else {
        io_uring_prep_read(sqe, segment->second.fd, submitted->buffer.get(),
                           static_cast<unsigned>(submitted->bytes),
                           chunk.offset + record_header_bytes + chunk_read_bytes_);
    }
}

std::optional<BodyPiece> WorkerSpool::BodyReader::read_now() {
    if (!cached_.owner || at_end_ || in_flight_ != nullptr) {
        return std::nullopt;
    }
    std::size_t offset = static_cast<std::size_t>(read_bytes_);
    std::size_t bytes = std::min(piece_bytes_, cached_.bytes.size() - offset);
    BodyPiece piece{cached_.owner, cached_.bytes.substr(offset, bytes)};
    read_bytes_ += bytes;
    at_end_ = read_bytes_ == cached_.bytes.size();
    return piece;
}

void WorkerSpool::BodyReader::read_cached(std::function<void(Result<BodyPiece>)> done) {
    std::optional<BodyPiece> piece = read_now();
    RELAY_ASSERT(piece.has_value());
    spool_.reactor_.defer(
        [piece = std::move(*piece), done = std::move(done)]() mutable { done(std::move(piece)); });
}

void WorkerSpool::BodyReader::on_read(std::unique_ptr<internal::BodyRead> read, int result) {
    in_flight_ = nullptr;
    auto done = std::move(read->done);
    std::size_t expected = read->bytes + (read->with_header ? record_header_bytes : 0);
    if (result != static_cast<int>(expected)) {
        log::error("message {}: a data chunk in segment {:016x} at {} is unreadable",
                   format_queue_id(id_), chunks_[chunk_index_].segment,
                   chunks_[chunk_index_].offset);
        done(damaged(result < 0 ? system_error("read", result).message : "short read"));
        return;
    }
    std::string_view piece(read->buffer.get(), read->bytes);
    Status checked = check_piece(*read, piece);
    if (!checked) {
        log::error("message {}: {}", format_queue_id(id_), checked.error().message);
        done(checked.error());
        return;
    }
    done(BodyPiece{std::move(read->buffer), piece});
}

// Advances the chunk and body state over `piece`; an error if a check fails.
Status WorkerSpool::BodyReader::check_piece(const internal::BodyRead& read,
                                            std::string_view piece) {
    const ChunkRef& chunk = chunks_[chunk_index_];
    if (read.with_header) {
        std::string_view header(read.header, record_header_bytes);
        auto decoded = decode_header(header);
        if (!decoded || decoded->type != RecordType::body_chunk || decoded->queue_id != id_ ||
            decoded->payload_bytes != chunk.bytes) {
            return damaged("no valid data chunk where its message record says");
        }
        chunk_checksum_ = decoded->checksum;
        XXH3_64bits_reset(record_hash_);
        XXH3_64bits_update(record_hash_, header.data(), 16);  // the checksum field is not hashed
    }
    XXH3_64bits_update(record_hash_, piece.data(), piece.size());
    XXH3_64bits_update(body_hash_state_, piece.data(), piece.size());
    chunk_read_bytes_ += static_cast<std::uint32_t>(piece.size());
    read_bytes_ += piece.size();
    if (chunk_read_bytes_ < chunk.bytes) {
        return {};
    }
    if (XXH3_64bits_digest(record_hash_) != chunk_checksum_) {
        return damaged("a data chunk does not match its checksum");
    }
    ++chunk_index_;
    chunk_read_bytes_ = 0;
    if (read_bytes_ > body_bytes_ ||
        (chunk_index_ == chunks_.size()) != (read_bytes_ == body_bytes_)) {
        return damaged("its chunks do not add up to its size");
    }
    if (chunk_index_ < chunks_.size()) {
        return {};
    }
    if (XXH3_64bits_digest(body_hash_state_) != body_hash_) {
        return damaged("the data does not match the message's hash");
    }
    at_end_ = true;
    return {};
}

}  // namespace relay::spool
