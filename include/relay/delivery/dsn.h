// dsn.h -- delivery status notifications (bounces) that relay sends to a message's sender.
//
// RFC 3464 (message/delivery-status inside RFC 6522 multipart/report), RFC 3463 status codes,
// RFC 6533 for messages whose addresses need UTF-8 (message/global-delivery-status and
// message/global-headers), RFC 3834 (Auto-Submitted). The notification carries a
// human-readable explanation, one per-recipient block for each failed recipient (with the
// remote host and its full reply), and the original message's header block.
//
// Pure: builds bytes, no I/O, any thread. The caller queues the result as a new message from
// the null sender "<>", which is never itself bounced (no bounce loops).
//
// Untrusted bytes: the diagnostics (remote servers' replies), the addresses and the original
// headers. Every line of the result ends in CRLF and holds at most 998 octets (RFC 5322 §2.1.1):
// fields are folded, and a longer original header line is cut into continuation lines. A
// diagnostic keeps printable ASCII only (CR, LF and other controls never reach a field) and at
// most dsn_diagnostic_bytes_max octets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relay::delivery {

inline constexpr std::size_t dsn_diagnostic_bytes_max = 4096;

struct DsnRecipient {
    std::string address;     // the original recipient
    std::string status;      // RFC 3463 code, "5.1.1" (4.x.y kept; anything else: 5.0.0)
    std::string remote_mta;  // host name of the server that answered, if any
    std::string diagnostic;  // the server's full reply, or relay's reason
    // false: relay decided (expired, null MX, ...): the reason goes into the text part only,
    // since Diagnostic-Code is for a remote MTA's diagnostic (RFC 3464 §2.3.6).
    bool remote = true;
};

struct DsnInput {
    std::string reporting_mta;             // this relay's host name
    std::string sender;                    // who gets the notification (the original reverse path)
    std::string queue_id;                  // the original message's queue id
    std::string resource;                  // PROJECT/NAME that sent it; empty: none (no AUTH)
    std::uint64_t arrival_unix_ms = 0;     // 0: unknown (no Arrival-Date)
    std::uint64_t now_unix_ms = 0;         // for Date: and Last-Attempt-Date
    std::vector<DsnRecipient> recipients;  // at least one
    std::string_view original_headers;     // the original header block (CRLF lines)
    // Any address or the headers need UTF-8 (RFC 6533). Also chosen on its own when the sender,
    // a recipient or the original headers hold a non-ASCII octet; the result then has 8-bit
    // content (queue it with BODY=8BITMIME, and with SMTPUTF8 when the sender's address is
    // not ASCII: it is the To: field).
    bool utf8 = false;
};

// The complete notification message (header and body, CRLF line endings), ready to be queued.
// `sender` must not be empty (nobody to notify) and `recipients` must not be empty: both are
// programmer errors.
std::string build_dsn(const DsnInput& input);

}  // namespace relay::delivery
