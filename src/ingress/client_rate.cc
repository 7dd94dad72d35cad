// client_rate.cc -- new connections per client address in any minute, without a lock.
#include "relay/ingress/client_rate.h"

#include <functional>

namespace relay::ingress {

// Zero is "never taken": due for any time of the monotonic clock.
ClientRate::ClientRate(std::uint32_t per_minute)
    : per_minute_(per_minute),
      slots_(per_minute == 0 ? nullptr
                             : std::make_unique<std::atomic<std::int64_t>[]>(std::size_t{entries} *
                                                                             per_minute)) {}

bool ClientRate::admit(std::string_view client_ip, std::int64_t now_ms) {
    if (per_minute_ == 0) {
        return true;
    }
    std::size_t entry = std::hash<std::string_view>()(client_ip) % entries;
    std::atomic<std::int64_t>* slots = &slots_[entry * per_minute_];
    for (std::uint32_t index = 0; index < per_minute_; ++index) {
        std::int64_t free_at = slots[index].load();
        while (free_at <= now_ms) {
            if (slots[index].compare_exchange_weak(free_at, now_ms + window_ms)) {
                return true;
            }
        }
    }
    return false;
}

}  // namespace relay::ingress
