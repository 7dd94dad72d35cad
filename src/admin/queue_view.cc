// queue_view.cc -- queued messages and the queue summary as JSON (moved here from relayctl so
// that the admin API answers with the same fields).
#include "relay/admin/queue_view.h"

#include <algorithm>
#include <map>

#include "relay/base/ascii.h"
#include "relay/base/clock.h"
#include "relay/smtp/address.h"

namespace relay::admin {
namespace {

using nlohmann::json;

// The DKIM body hashes taken at reception, in hex; absent when no key wanted them.
void add_dkim_body_hashes(json& result, const spool::Envelope& envelope) {
    auto hex = [](const std::array<std::uint8_t, 32>& digest) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string text;
        for (std::uint8_t octet : digest) {
            text += digits[octet >> 4];
            text += digits[octet & 0xf];
        }
        return text;
    };
    json hashes = json::object();
    if (envelope.dkim_body_sha256_relaxed) {
        hashes["relaxed"] = hex(*envelope.dkim_body_sha256_relaxed);
    }
    if (envelope.dkim_body_sha256_simple) {
        hashes["simple"] = hex(*envelope.dkim_body_sha256_simple);
    }
    result["dkim_body_sha256"] = hashes;
}

}  // namespace

json queued_message_json(const spool::QueuedMessage& message, bool detailed) {
    const spool::Envelope& envelope = message.envelope;
    json result = {
        {"id", spool::format_queue_id(message.id)},
        {"size", envelope.body_bytes},
        {"from", envelope.reverse_path},
        {"resource", envelope.resource},
        {"received", iso8601_time(envelope.received_unix_ms)},
        {"age_s", seconds_since(envelope.received_unix_ms)},
        {"attempts", message.attempts},
        {"next_attempt", iso8601_time(message.next_attempt_unix_ms)},
        {"last_error", message.last_error},
    };
    json recipients = json::array();
    for (const spool::Recipient& recipient : message.recipients) {
        json entry = {{"address", recipient.address},
                      {"status", spool::recipient_status_name(recipient.status)}};
        if (detailed) {
            entry["remote"] = recipient.remote;
            entry["reply"] = recipient.reply;
        }
        recipients.push_back(entry);
    }
    result["recipients"] = recipients;
    if (detailed) {
        result["client_ip"] = envelope.client_ip;
        result["client_helo"] = envelope.client_helo;
        result["protocol"] = envelope.protocol;
        result["listener"] = envelope.listener;
        result["smtputf8"] = envelope.smtputf8;
        result["eight_bit"] = envelope.eight_bit;
        result["origin"] = envelope.origin == spool::Origin::dsn ? "dsn" : "client";
        result["header_bytes"] = envelope.header_bytes;
        add_dkim_body_hashes(result, envelope);
        // What delivery uses: the resource's return path fixed at acceptance, and the
        // Message-ID relayd added (null: none).
        result["return_path"] =
            envelope.return_path.empty() ? json(nullptr) : json(envelope.return_path);
        result["added_message_id"] =
            envelope.message_id.empty() ? json(nullptr) : json(envelope.message_id);
    }
    return result;
}

std::uint64_t seconds_since(std::uint64_t since_unix_ms) {
    std::uint64_t now = unix_ms_now();
    return now > since_unix_ms ? (now - since_unix_ms) / 1000 : 0;
}

std::vector<QueueSummaryRow> queue_summary(const spool::Recovery& queue) {
    std::map<std::string, QueueSummaryRow> rows;
    for (const spool::RecoveredMessage& recovered : queue.messages) {
        const spool::QueuedMessage& message = recovered.message;
        std::vector<std::string> seen;
        for (const spool::Recipient& recipient : message.recipients) {
            std::string domain = smtp::domain_of(recipient.address);
            if (recipient.status != spool::RecipientStatus::pending ||
                std::find(seen.begin(), seen.end(), domain) != seen.end()) {
                continue;
            }
            seen.push_back(domain);
            QueueSummaryRow& row = rows[domain];
            row.destination = domain;
            ++row.messages;
            if (row.oldest_unix_ms == 0 || message.envelope.received_unix_ms < row.oldest_unix_ms) {
                row.oldest_unix_ms = message.envelope.received_unix_ms;
            }
            if (!message.last_error.empty()) {
                row.last_error = message.last_error;
            }
        }
    }
    std::vector<QueueSummaryRow> out;
    out.reserve(rows.size());
    for (auto& [domain, row] : rows) {
        out.push_back(std::move(row));
    }
    return out;
}

json queue_summary_json(const std::vector<QueueSummaryRow>& rows) {
    json out = json::array();
    for (const QueueSummaryRow& row : rows) {
        out.push_back({{"destination", row.destination},
                       {"messages", row.messages},
                       {"oldest", iso8601_time(row.oldest_unix_ms)},
                       {"oldest_age_s", seconds_since(row.oldest_unix_ms)},
                       {"last_error", row.last_error}});
    }
    return out;
}

bool has_pending_domain(const spool::QueuedMessage& message, const std::string& domain) {
    if (domain.empty()) {
        return true;
    }
    const std::string wanted = ascii_lower(domain);  // once, not per recipient
    for (const spool::Recipient& recipient : message.recipients) {
        if (recipient.status == spool::RecipientStatus::pending &&
            smtp::domain_of(recipient.address) == wanted) {
            return true;
        }
    }
    return false;
}

}  // namespace relay::admin
