// queue_id.cc -- generating and printing queue ids.
#include "relay/spool/queue_id.h"

#include <charconv>

#include "relay/base/assert.h"

namespace relay::spool {

static_assert(44 + QueueIdGenerator::worker_bits + QueueIdGenerator::counter_bits == 64);

std::string format_queue_id(QueueId id) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string text(16, '0');
    for (int index = 15; index >= 0; --index) {
        text[static_cast<std::size_t>(index)] = digits[id & 0xF];
        id >>= 4;
    }
    return text;
}

std::optional<QueueId> parse_queue_id(std::string_view text) {
    if (text.size() != 16) {
        return std::nullopt;
    }
    QueueId id = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id, 16);
    if (error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return id;
}

std::uint64_t queue_id_unix_ms(QueueId id) {
    return id >> (QueueIdGenerator::worker_bits + QueueIdGenerator::counter_bits);
}

QueueIdGenerator::QueueIdGenerator(int worker, QueueId floor)
    : worker_(static_cast<std::uint64_t>(worker)) {
    RELAY_ASSERT(worker >= 0 && worker < (1 << worker_bits));
    last_ms_ = queue_id_unix_ms(floor);
    counter_ = (std::uint64_t{1} << counter_bits);  // the floor's millisecond counts as used
}

QueueId QueueIdGenerator::next(std::uint64_t now_unix_ms) {
    if (now_unix_ms > last_ms_) {
        last_ms_ = now_unix_ms;
        counter_ = 0;
    }
    if (counter_ >= (std::uint64_t{1} << counter_bits)) {
        // More ids in one millisecond than the counter holds (or the clock went back): borrow
        // the next millisecond rather than repeat an id.
        ++last_ms_;
        counter_ = 0;
    }
    QueueId id = (last_ms_ << (worker_bits + counter_bits)) | (worker_ << counter_bits) | counter_;
    ++counter_;
    return id;
}

}  // namespace relay::spool
