// spool_folder.h -- the spool folder as a whole: layout, exclusive use, recovery at start-up.
//
//     <spool>/lock          flock'ed by the running relayd (relayctl checks it)
//     <spool>/segments/     the segment files, named by sequence number (hex)
//     <spool>/corrupt/      segments that could not be read, moved aside for an operator
//
// `open` takes the lock, recovers what is in the segments and splits it among the workers:
// a segment goes to worker (writer index mod workers), and a message to the worker owning its
// home segment. Records about a message are only ever written by the worker owning it, so each
// worker's segments keep their order and can be retired oldest first.
//
// Thread: the main thread, before the workers start. Blocking.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "relay/spool/recovery.h"

namespace relay::spool {

struct WorkerShare {
    std::vector<SegmentSummary> segments;
    std::vector<RecoveredMessage> messages;
};

class SpoolFolder {
  public:
    static Result<std::unique_ptr<SpoolFolder>> open(const std::string& path, int workers);
    ~SpoolFolder();

    const std::string& segments_folder() const { return segments_folder_; }
    std::atomic<std::uint64_t>& next_sequence() { return next_sequence_; }
    QueueId largest_queue_id() const { return largest_queue_id_; }
    // Moves worker `index`'s share out (call once per worker).
    WorkerShare take_share(int index);
    std::size_t recovered_messages() const { return recovered_messages_; }

    // True if a running relayd holds the lock of the spool at `path`.
    static bool in_use(const std::string& path);

  private:
    SpoolFolder() = default;

    int lock_fd_ = -1;
    std::string segments_folder_;
    std::atomic<std::uint64_t> next_sequence_{1};
    QueueId largest_queue_id_ = 0;
    std::vector<WorkerShare> shares_;
    std::size_t recovered_messages_ = 0;
};

}  // namespace relay::spool
