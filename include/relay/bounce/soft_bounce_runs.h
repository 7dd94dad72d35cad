// soft_bounce_runs.h -- counting soft bounces in a row per recipient, so that a recipient whose
// mail keeps failing softly is stop-listed like a hard bounce ([bounces] soft_bounces_to_hard).
//
// "In a row" is over the recipient's messages in the order they were sent (queue ids grow with
// acceptance time), not the order reports arrive: a soft bounce of message Q continues the run
// unless a message sent after the run's last bounced one and before Q was delivered and has not
// bounced since. Most bounces arrive after the remote server's 250 (the message was "delivered"
// to it first), so a delivery alone cannot end a run: it does when a later message of the same
// recipient bounces while it did not. Only recipients with a run are followed; deliveries to
// others are ignored at once.
//
// Bounded: at most `keys_max` recipients (past it the one whose run was last extended longest
// ago is forgotten) and deliveries_per_key_max deliveries per recipient (past it the newest is
// dropped: the oldest decide first).
//
// Pure: no clock, no I/O. Thread: one owner (the bounce processor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/spool/queue_id.h"

namespace relay::bounce {

inline constexpr std::size_t deliveries_per_key_max = 8;

class SoftBounceRuns {
  public:
    // `to_hard`: the run length that counts as a hard bounce (at least 1).
    SoftBounceRuns(std::uint32_t to_hard, std::size_t keys_max);

    // A soft bounce of message `queue_id` for `key` (resource and recipient). Returns the run's
    // length after it; when that reaches to_hard the run is forgotten (the caller stop-lists the
    // recipient). A second report of the same message changes nothing.
    std::uint32_t soft_bounce(const std::string& key, spool::QueueId queue_id);
    // Message `queue_id` was delivered to `key`'s server.
    void delivered(const std::string& key, spool::QueueId queue_id);
    // The recipient was stop-listed (a hard bounce, a complaint): its run ends.
    void forget(const std::string& key);

    std::size_t keys() const { return runs_.size(); }
    std::uint32_t run_of(const std::string& key) const;

  private:
    struct Run {
        std::uint32_t length = 0;
        spool::QueueId last_bounced = 0;
        std::set<spool::QueueId> bounced;        // of this run, for repeated reports
        std::vector<spool::QueueId> deliveries;  // after last_bounced, sorted, not bounced
        std::uint64_t touched = 0;               // order of the last change, for eviction
    };
    void touch(const std::string& key, Run& run);
    void evict_if_full();

    std::uint32_t to_hard_;
    std::size_t keys_max_;
    std::uint64_t clock_ = 0;
    std::unordered_map<std::string, Run> runs_;
    std::map<std::uint64_t, std::string> by_touch_;
};

}  // namespace relay::bounce
