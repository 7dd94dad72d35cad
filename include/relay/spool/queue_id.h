// queue_id.h -- queue ids: unique, time-ordered names for accepted messages.
//
// 64 bits: milliseconds since the Unix epoch (44 bits, good until the year 2527), the worker
// index (6 bits), and a per-worker counter within the millisecond (14 bits). Written as 16
// upper-case hex digits, which sort by acceptance time. Each worker generates its own ids; no
// coordination between threads is needed.
//
// Thread: a generator belongs to one worker; the functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relay::spool {

using QueueId = std::uint64_t;

std::string format_queue_id(QueueId id);
std::optional<QueueId> parse_queue_id(std::string_view text);
// The acceptance time encoded in an id.
std::uint64_t queue_id_unix_ms(QueueId id);

class QueueIdGenerator {
  public:
    static constexpr int worker_bits = 6;
    static constexpr int counter_bits = 14;

    // `floor` is the largest id seen at recovery: new ids are always larger.
    QueueIdGenerator(int worker, QueueId floor);
    QueueId next(std::uint64_t now_unix_ms);

  private:
    std::uint64_t worker_;
    std::uint64_t last_ms_ = 0;
    std::uint64_t counter_ = 0;
};

}  // namespace relay::spool
