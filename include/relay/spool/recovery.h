// recovery.h -- reading a spool folder back: what was acknowledged and not yet finished.
//
// Reads every segment (in sequence order), validates every record's checksum, and rebuilds the
// state of each message from its records: the `message` record (the commit point: a message
// without one was never acknowledged and is ignored), then recipient_done, deferred, retry_now
// and message_done records in order. A message is recovered only if every chunk it names is a
// valid body_chunk record of the same queue id and the sizes add up.
//
// A torn or damaged stretch of a segment is skipped up to the next valid record and counted.
// A non-empty file whose first record is not a valid segment header is reported as corrupt
// (and moved aside to corrupt/ when `quarantine` is set) rather than read.
//
// Used by relayd at start-up (before the workers run) and by relayctl, read-only, while relayd
// runs (a tail being written reads as torn and is skipped). Blocking I/O: never on a worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"
#include "relay/spool/message_record.h"
#include "relay/spool/record.h"

namespace relay::spool {

struct SegmentSummary {
    std::uint64_t sequence = 0;
    int worker = 0;
    std::uint64_t created_unix_ms = 0;
    std::string path;
    std::uint64_t file_bytes = 0;
    std::uint64_t valid_bytes = 0;    // offset just past the last valid record
    std::uint64_t damaged_bytes = 0;  // skipped between valid records
    std::uint64_t records = 0;
};

struct ScannedRecord {
    RecordHeader header;
    std::uint64_t offset = 0;  // of the header
    std::string_view payload;
};

// Scans one segment file; `visit` sees every valid record after the segment header, with the
// segment's summary so far (its sequence and worker are known by then). An empty file (a
// segment created but never written) yields a summary with file_bytes == 0.
using RecordVisitor = std::function<void(const SegmentSummary&, const ScannedRecord&)>;
Result<SegmentSummary> scan_segment(const std::string& path, const RecordVisitor& visit);

struct RecoveredMessage {
    QueuedMessage message;
    std::uint64_t home_segment = 0;  // where its message record lies
};

struct Recovery {
    std::vector<SegmentSummary> segments;    // valid segments, by sequence
    std::vector<RecoveredMessage> messages;  // messages without message_done, by queue id
    std::vector<std::string> empty_files;    // segments never written: safe to remove
    std::vector<std::string> corrupt_files;  // unreadable headers (moved when quarantined)
    std::uint64_t next_sequence = 1;
    QueueId largest_queue_id = 0;
    std::uint64_t finished_messages = 0;
    std::uint64_t discarded_messages = 0;  // acknowledged but damaged: logged by id
    std::vector<std::string> problems;     // one line each, for the log
};

Result<Recovery> recover(const std::string& segments_folder, bool quarantine);

// Reads a message's stored bytes back from its chunks, checking the record checksums and the
// whole-body hash. Blocking: relayctl and tests only.
Result<std::string> read_message_bytes(const std::string& segments_folder,
                                       const QueuedMessage& message);

}  // namespace relay::spool
