// spool_folder.cc -- locking, recovering and sharing out the spool at start-up.
#include "relay/spool/spool_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>

#include "relay/base/log.h"

namespace relay::spool {

SpoolFolder::~SpoolFolder() {
    if (lock_fd_ >= 0) {
        ::close(lock_fd_);
    }
}

bool SpoolFolder::in_use(const std::string& path) {
    int fd = ::open((path + "/lock").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);
    return held;
}

Result<std::unique_ptr<SpoolFolder>> SpoolFolder::open(const std::string& path, int workers) {
    std::unique_ptr<SpoolFolder> folder(new SpoolFolder());
    std::error_code error;
    folder->segments_folder_ = path + "/segments";
    std::filesystem::create_directories(folder->segments_folder_, error);
    if (error) {
        return Error{"cannot create spool folder " + folder->segments_folder_ + ": " +
                     error.message()};
    }
    folder->lock_fd_ = ::open((path + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (folder->lock_fd_ < 0) {
        return system_error("cannot open " + path + "/lock", errno);
    }
    if (flock(folder->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        return make_error(ErrorCode::failed_precondition, Blame::configuration,
                          "spool " + path + " is in use by another relayd");
    }

    auto recovered = recover(folder->segments_folder_, true);
    if (!recovered) {
        return recovered.error();
    }
    Recovery& recovery = recovered.value();
    for (const std::string& problem : recovery.problems) {
        log::warning("spool recovery: {}", problem);
    }
    for (const std::string& empty : recovery.empty_files) {
        std::filesystem::remove(empty, error);
    }
    folder->next_sequence_ = recovery.next_sequence;
    folder->largest_queue_id_ = recovery.largest_queue_id;
    folder->recovered_messages_ = recovery.messages.size();

    folder->shares_.resize(static_cast<std::size_t>(workers));
    std::map<std::uint64_t, std::size_t> owner;  // segment sequence -> worker
    for (SegmentSummary& segment : recovery.segments) {
        std::size_t worker = static_cast<std::size_t>(segment.worker) % folder->shares_.size();
        owner[segment.sequence] = worker;
        folder->shares_[worker].segments.push_back(std::move(segment));
    }
    for (RecoveredMessage& message : recovery.messages) {
        std::size_t worker = owner.at(message.home_segment);
        folder->shares_[worker].messages.push_back(std::move(message));
    }
    log::info("spool {}: {} segments, {} messages to deliver, {} finished, {} discarded", path,
              recovery.segments.size(), recovery.messages.size(), recovery.finished_messages,
              recovery.discarded_messages);
    return folder;
}

WorkerShare SpoolFolder::take_share(int index) {
    return std::move(shares_.at(static_cast<std::size_t>(index)));
}

}  // namespace relay::spool
