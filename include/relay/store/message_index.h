// message_index.h -- the Message-ID index of mail relay sent: for a report that carries no VERP
// token (a complaint quoting only the original headers), the original Message-ID finds the
// resource, the sender domain and the envelope recipients of the message it is about.
//
// Entries expire: prune_sent drops those older than a horizon and, past a count, the oldest, so
// the index stays bounded however much mail goes through (docs/bounces.md says how large it
// gets). A Message-ID longer than sent_message_id_bytes_max is not indexed (LMDB's keys are
// short; real ones are far shorter).
//
// Thread: like the store that owns it (one call at a time); every call may block on the disk,
// so never on a worker's loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"

namespace relay::store {

inline constexpr std::size_t sent_message_id_bytes_max = 250;

struct SentMessage {
    std::string message_id;  // with its angle brackets, as in the header field
    std::uint64_t queue_id = 0;
    std::string resource;       // PROJECT/NAME; empty for mail sent without AUTH
    std::string sender_domain;  // of the envelope sender
    std::vector<std::string> recipients;
    std::uint64_t sent_s = 0;  // Unix seconds, when it was accepted
};

class MessageIndex {
  public:
    virtual ~MessageIndex() = default;
    // Adds or replaces each entry, all in one transaction; entries whose Message-ID is empty or
    // too long are skipped.
    virtual Status add_sent(std::span<const SentMessage> messages) = 0;
    virtual Result<std::optional<SentMessage>> find_sent(std::string_view message_id) = 0;
    // Drops entries sent before `oldest_s`, then the oldest until at most `entries_max` remain.
    // Returns how many it dropped.
    virtual Result<std::uint64_t> prune_sent(std::uint64_t oldest_s, std::uint64_t entries_max) = 0;
    virtual Result<std::uint64_t> sent_count() = 0;
};

}  // namespace relay::store
