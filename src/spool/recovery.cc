// recovery.cc -- scanning segments and rebuilding message state.
#include "relay/spool/recovery.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <unordered_map>

namespace relay::spool {
namespace {

// A read-only view of a whole file.
class MappedFile {
  public:
    static Result<MappedFile> open(const std::string& path) {
        MappedFile file;
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return system_error("cannot open " + path, errno);
        }
        struct stat info {};
        if (fstat(fd, &info) != 0) {
            int error = errno;
            ::close(fd);
            return system_error("cannot stat " + path, error);
        }
        file.size_ = static_cast<std::size_t>(info.st_size);
        if (file.size_ > 0) {
            void* data = mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (data == MAP_FAILED) {
                int error = errno;
                ::close(fd);
                return system_error("cannot map " + path, error);
            }
            file.data_ = static_cast<const char*>(data);
        }
        ::close(fd);
        return file;
    }
    MappedFile() = default;
    MappedFile(MappedFile&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    ~MappedFile() {
        if (data_ != nullptr) {
            munmap(const_cast<char*>(data_), size_);
        }
    }
    std::string_view bytes() const { return {data_, size_}; }

  private:
    const char* data_ = nullptr;
    std::size_t size_ = 0;
};

// The valid record at `offset`, if there is one.
std::optional<ScannedRecord> record_at(std::string_view file, std::uint64_t offset) {
    if (offset + record_header_bytes > file.size()) {
        return std::nullopt;
    }
    std::string_view header_bytes = file.substr(offset, record_header_bytes);
    auto header = decode_header(header_bytes);
    if (!header || offset + record_bytes(header->payload_bytes) > file.size()) {
        return std::nullopt;
    }
    std::string_view payload = file.substr(offset + record_header_bytes, header->payload_bytes);
    if (!checksum_matches(header_bytes, payload)) {
        return std::nullopt;
    }
    return ScannedRecord{*header, offset, payload};
}

bool read_segment_header(const ScannedRecord& record, SegmentSummary& summary) {
    if (record.header.type != RecordType::segment_header) {
        return false;
    }
    TlvReader reader(record.payload);
    std::uint16_t tag = 0;
    std::string_view value;
    bool have_version = false;
    while (reader.next(tag, value)) {
        auto number = TlvReader::as_u64(value).value_or(0);
        if (tag == 1) {
            have_version = number == segment_format_version;
        } else if (tag == 2) {
            summary.worker = static_cast<int>(number);
        } else if (tag == 3) {
            summary.sequence = number;
        } else if (tag == 4) {
            summary.created_unix_ms = number;
        }
    }
    return have_version && !reader.malformed() && summary.sequence > 0;
}

struct ChunkKey {
    std::uint64_t segment;
    std::uint64_t offset;
    bool operator==(const ChunkKey&) const = default;
};
struct ChunkKeyHash {
    std::size_t operator()(const ChunkKey& key) const {
        return std::hash<std::uint64_t>()(key.segment * 0x9E3779B97F4A7C15ull ^ key.offset);
    }
};
struct ChunkSeen {
    QueueId queue_id;
    std::uint32_t bytes;
};

struct Rebuild {
    std::map<QueueId, RecoveredMessage> messages;
    std::unordered_map<ChunkKey, ChunkSeen, ChunkKeyHash> chunks;
    std::uint64_t finished = 0;
};

bool chunks_valid(const Rebuild& rebuild, const RecoveredMessage& recovered) {
    std::uint64_t total = 0;
    for (const ChunkRef& chunk : recovered.message.envelope.chunks) {
        auto seen = rebuild.chunks.find(ChunkKey{chunk.segment, chunk.offset});
        if (seen == rebuild.chunks.end() || seen->second.queue_id != recovered.message.id ||
            seen->second.bytes != chunk.bytes) {
            return false;
        }
        total += chunk.bytes;
    }
    return total == recovered.message.envelope.body_bytes;
}

void apply_record(Rebuild& rebuild, std::uint64_t segment, const ScannedRecord& record,
                  Recovery& recovery) {
    QueueId id = record.header.queue_id;
    recovery.largest_queue_id = std::max(recovery.largest_queue_id, id);
    auto found = rebuild.messages.find(id);
    switch (record.header.type) {
        case RecordType::body_chunk:
            rebuild.chunks[ChunkKey{segment, record.offset}] =
                ChunkSeen{id, record.header.payload_bytes};
            break;
        case RecordType::message: {
            auto message = decode_message(id, record.payload);
            if (!message) {
                recovery.problems.push_back("message record of " + format_queue_id(id) +
                                            " is malformed; message discarded");
                ++recovery.discarded_messages;
                break;
            }
            RecoveredMessage recovered{std::move(*message), segment};
            // Chunks precede their message record in writing order, so they are known here.
            // A copy made by compaction whose chunks did not all reach the disk must not
            // replace the intact original.
            if (!chunks_valid(rebuild, recovered)) {
                if (found == rebuild.messages.end()) {
                    recovery.problems.push_back("message " + format_queue_id(id) +
                                                " has missing or damaged data; discarded");
                    ++recovery.discarded_messages;
                }
                break;
            }
            rebuild.messages[id] = std::move(recovered);
            break;
        }
        case RecordType::recipient_done:
            if (auto done = decode_recipient_done(record.payload);
                done && found != rebuild.messages.end()) {
                apply(found->second.message, *done);
            }
            break;
        case RecordType::deferred:
            if (auto deferral = decode_deferral(record.payload);
                deferral && found != rebuild.messages.end()) {
                apply(found->second.message, *deferral);
            }
            break;
        case RecordType::retry_now:
            if (found != rebuild.messages.end()) {
                found->second.message.next_attempt_unix_ms = 0;
            }
            break;
        case RecordType::message_done:
            if (found != rebuild.messages.end()) {
                rebuild.messages.erase(found);
                ++rebuild.finished;
            }
            break;
        case RecordType::segment_header:
            break;  // only valid first; a later one is ignored
    }
}

}  // namespace

Result<SegmentSummary> scan_segment(const std::string& path, const RecordVisitor& visit) {
    auto file = MappedFile::open(path);
    if (!file) {
        return file.error();
    }
    std::string_view bytes = file->bytes();
    SegmentSummary summary;
    summary.path = path;
    summary.file_bytes = bytes.size();
    if (bytes.empty()) {
        return summary;
    }
    auto first = record_at(bytes, 0);
    if (!first || !read_segment_header(*first, summary)) {
        return Error{"segment " + path + " has no valid header"};
    }
    std::uint64_t offset = record_bytes(first->header.payload_bytes);
    summary.valid_bytes = offset;
    while (offset + record_header_bytes <= bytes.size()) {
        auto record = record_at(bytes, offset);
        if (!record) {
            // Torn tail or damage: look for the next valid record on the 8-byte grid.
            std::uint64_t next = offset + 8;
            while (next + record_header_bytes <= bytes.size() && !record_at(bytes, next)) {
                next += 8;
            }
            if (next + record_header_bytes > bytes.size()) {
                break;
            }
            summary.damaged_bytes += next - offset;
            offset = next;
            continue;
        }
        visit(summary, *record);
        ++summary.records;
        offset += record_bytes(record->header.payload_bytes);
        summary.valid_bytes = offset;
    }
    return summary;
}

Result<Recovery> recover(const std::string& segments_folder, bool quarantine) {
    Recovery recovery;
    std::vector<std::string> paths;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(segments_folder, error)) {
        if (entry.path().extension() == ".seg") {
            paths.push_back(entry.path().string());
        }
    }
    if (error) {
        return Error{"cannot list spool folder " + segments_folder + ": " + error.message()};
    }
    std::sort(paths.begin(), paths.end());  // names are zero-padded sequence numbers

    Rebuild rebuild;
    for (const std::string& path : paths) {
        auto summary =
            scan_segment(path, [&](const SegmentSummary& segment, const ScannedRecord& record) {
                apply_record(rebuild, segment.sequence, record, recovery);
            });
        if (!summary) {
            recovery.problems.push_back(summary.error().message);
            recovery.corrupt_files.push_back(path);
            continue;
        }
        if (summary->file_bytes == 0) {
            recovery.empty_files.push_back(path);
            continue;
        }
        if (summary->damaged_bytes > 0 || summary->valid_bytes < summary->file_bytes) {
            recovery.problems.push_back(
                "segment " + path + ": skipped " + std::to_string(summary->damaged_bytes) +
                " damaged bytes and " + std::to_string(summary->file_bytes - summary->valid_bytes) +
                " bytes of torn tail");
        }
        recovery.next_sequence = std::max(recovery.next_sequence, summary->sequence + 1);
        recovery.segments.push_back(std::move(summary.value()));
    }
    std::sort(
        recovery.segments.begin(), recovery.segments.end(),
        [](const SegmentSummary& a, const SegmentSummary& b) { return a.sequence < b.sequence; });
    // Names are chosen from sequence numbers, so a file's name also bounds the next sequence
    // (an empty or corrupt file must not have its name reused).
    for (const auto* list : {&recovery.empty_files, &recovery.corrupt_files}) {
        for (const std::string& path : *list) {
            std::string stem = std::filesystem::path(path).stem().string();
            std::uint64_t sequence = std::strtoull(stem.c_str(), nullptr, 16);
            recovery.next_sequence = std::max(recovery.next_sequence, sequence + 1);
        }
    }

    // A message whose recipients are all final but which has no message_done record may
    // still owe its sender a notification: it stays, and delivery completes it.
    for (auto& [id, recovered] : rebuild.messages) {
        recovery.messages.push_back(std::move(recovered));
    }
    recovery.finished_messages += rebuild.finished;

    if (quarantine && !recovery.corrupt_files.empty()) {
        std::filesystem::path corrupt =
            std::filesystem::path(segments_folder).parent_path() / "corrupt";
        std::filesystem::create_directories(corrupt, error);
        for (const std::string& path : recovery.corrupt_files) {
            std::filesystem::rename(path, corrupt / std::filesystem::path(path).filename(), error);
            if (error) {
                recovery.problems.push_back("cannot move " + path + " to " + corrupt.string() +
                                            ": " + error.message());
            }
        }
    }
    return recovery;
}

Result<std::string> read_message_bytes(const std::string& segments_folder,
                                       const QueuedMessage& message) {
    std::string bytes;
    bytes.reserve(message.envelope.body_bytes);
    std::uint64_t open_sequence = 0;
    std::optional<MappedFile> file;
    for (const ChunkRef& chunk : message.envelope.chunks) {
        if (!file || open_sequence != chunk.segment) {
            char name[32];
            std::snprintf(name, sizeof name, "/%016llx.seg",
                          static_cast<unsigned long long>(chunk.segment));
            auto opened = MappedFile::open(segments_folder + name);
            if (!opened) {
                return opened.error();
            }
            file.emplace(std::move(opened.value()));
            open_sequence = chunk.segment;
        }
        auto record = record_at(file->bytes(), chunk.offset);
        if (!record || record->header.type != RecordType::body_chunk ||
            record->header.queue_id != message.id || record->payload.size() != chunk.bytes) {
            return make_error(
                ErrorCode::data_loss, Blame::relay,
                "message " + format_queue_id(message.id) + ": a data chunk is damaged");
        }
        bytes.append(record->payload);
    }
    if (bytes.size() != message.envelope.body_bytes ||
        XXH3_64bits(bytes.data(), bytes.size()) != message.envelope.body_hash) {
        return make_error(
            ErrorCode::data_loss, Blame::relay,
            "message " + format_queue_id(message.id) + ": data does not match its hash");
    }
    return bytes;
}

}  // namespace relay::spool
