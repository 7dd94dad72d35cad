// report.h -- what a message received on the bounce domain says: a delivery status notification,
// a complaint, a plain-text bounce, an auto-reply or something unknown; who failed, why, and what
// ties it back to the message we sent.
//
// Untrusted bytes: the whole received message, from anyone. Pure: bytes in, a report out; no I/O,
// no logging, any thread, never an exception. Work and memory are bounded by ReportLimits and
// linear in the input (MIME nesting, parts, header fields and recipients all have limits).
//
// Standards: RFC 3464 (DSN: multipart/report, message/delivery-status), RFC 6533 (global DSN),
// RFC 3462/6522 (multipart/report), RFC 5965 (ARF: message/feedback-report), RFC 3834
// (Auto-Submitted), RFC 3463 (enhanced status codes). docs/bounces.md lists the plain-text formats
// recognised and the classification table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/bounce/classify.h"
#include "relay/bounce/verp.h"

namespace relay::bounce {

enum class ReportKind : std::uint8_t {
    delivery_status,  // RFC 3464 DSN
    feedback,         // RFC 5965 ARF complaint
    plain_bounce,     // a bounce in free text (qmail, Exim, Exchange, providers...)
    auto_reply,       // vacation, out of office
    unknown,          // none of these: count it and keep it for inspection
};

std::string_view kind_name(ReportKind kind);

// One recipient the report speaks of. Fields the report does not carry are empty.
struct FailedRecipient {
    std::string address;           // Final-Recipient, else Original-Recipient, else from the text
    std::string original_address;  // Original-Recipient when given
    std::string action;            // failed, delayed, delivered... (lower case)
    std::string status;            // enhanced status code, "5.1.1"
    std::string reply_code;        // SMTP reply code, "550"
    std::string diagnostic;        // the remote server's words, cut to diagnostic_bytes_max
    std::string remote_mta;        // Remote-MTA, or the host the text names
    Classification classification;
};

// The ARF fields of a complaint (RFC 5965 §3.1-3.2).
struct Feedback {
    std::string feedback_type;  // abuse, fraud, virus, other, not-spam (lower case)
    std::string user_agent;
    std::string original_mail_from;
    std::vector<std::string> original_rcpt_to;
    std::string reported_domain;
    std::string source_ip;
    std::string arrival_date;
};

struct Report {
    ReportKind kind = ReportKind::unknown;
    // The report as a whole: the class and reason of its first failed recipient, or of the report
    // itself (complaint, auto-reply) when it names none.
    Classification classification;
    std::vector<FailedRecipient> recipients;
    // Where the report was sent (To, Delivered-To, X-Original-To, Envelope-To of the report): the
    // addresses, and the tokens of those whose local part is "<verp_prefix><token>".
    std::vector<std::string> addressed_to;
    std::vector<std::string> verp_tokens;
    // The Message-ID of the message that bounced or was complained about, angle brackets kept.
    std::string original_message_id;
    std::string original_subject;
    Feedback feedback;
    bool truncated = false;  // a limit left part of the input unread
};

struct ReportLimits {
    std::size_t message_bytes_max = 4 * 1024 * 1024;     // the rest of a longer input is not read
    std::size_t depth_max = 8;                           // MIME nesting
    std::size_t parts_max = 64;                          // MIME parts
    std::size_t header_fields_max = 128;                 // header fields per part
    std::size_t recipients_max = 64;                     // recipients per report
    std::size_t diagnostic_bytes_max = 1024;             // kept diagnostic text per recipient
    std::string_view verp_prefix = bounce::verp_prefix;  // local-part prefix of our return paths
};

Report parse_report(std::string_view message, const ReportLimits& limits = {});

}  // namespace relay::bounce
