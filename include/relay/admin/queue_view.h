// queue_view.h -- the queue as JSON, the same for `relayctl queue list|show|summary --json` and
// the admin API's /queue: one message, and the per-destination summary.
//
// Thread: any; pure (reads the clock for ages).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "relay/spool/recovery.h"

namespace relay::admin {

// `detailed`: the fields of `queue show` too (client, protocol, replies, DKIM body hashes).
nlohmann::json queued_message_json(const spool::QueuedMessage& message, bool detailed);

// Whole seconds from `since_unix_ms` to now; 0 for a time in the future (clock steps).
std::uint64_t seconds_since(std::uint64_t since_unix_ms);

// Whether `message` still has a recipient to deliver at `domain` (any case); an empty domain
// matches every message. The filter of `queue list --domain` and GET /queue?domain=.
bool has_pending_domain(const spool::QueuedMessage& message, const std::string& domain);

struct QueueSummaryRow {
    std::string destination;  // a recipient domain with pending recipients
    std::size_t messages = 0;
    std::uint64_t oldest_unix_ms = 0;
    std::string last_error;
};

// Per destination domain, by name.
std::vector<QueueSummaryRow> queue_summary(const spool::Recovery& queue);
nlohmann::json queue_summary_json(const std::vector<QueueSummaryRow>& rows);

}  // namespace relay::admin
