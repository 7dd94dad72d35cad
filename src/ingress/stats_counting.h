// stats_counting.h -- which statistics counter an ingress decision adds to, and the one call
// that adds it on the worker's own table (stats/recorder.h: no lock, no system call).
//
// A refusal before a login proves who the client is (outside the networks, a wrong password,
// a lockout) has no resource: it is counted under "no resource", never under the username the
// client typed, which anyone could name. Sender domains are counted only once they are known
// to be the resource's own (so a client cannot make up domains to fill the table).
//
// Thread: the session's worker.
#pragma once

#include <optional>
#include <string_view>

#include "relay/base/clock.h"
#include "relay/message/message_pass.h"
#include "relay/stats/recorder.h"

namespace relay::ingress::internal {

inline std::string_view sender_domain(std::string_view reverse_path) {
    std::size_t at = reverse_path.rfind('@');
    return at == std::string_view::npos ? std::string_view() : reverse_path.substr(at + 1);
}

inline void count_stat(stats::WorkerCounter* counter, std::string_view resource,
                       std::string_view domain, store::StatsCounter which) {
    if (counter != nullptr) {
        counter->count(resource, domain, which, unix_ms_now() / 1000);
    }
}

// The counter of a message refused after its data; nullopt for refusals no counter names
// (bare line endings, NUL octets, MIME depth, over-long lines: malformed mail, in the log).
inline std::optional<store::StatsCounter> refusal_counter(message::Verdict verdict) {
    switch (verdict) {
        case message::Verdict::invalid_utf8:
        case message::Verdict::charset:
            return store::StatsCounter::refused_utf8;
        case message::Verdict::too_large:
        case message::Verdict::header_too_large:
            return store::StatsCounter::refused_size;
        default:
            return std::nullopt;
    }
}

}  // namespace relay::ingress::internal
