// report_parts.h -- the readers parse_report dispatches to, one per kind of report. Private to the
// bounce part.
//
// Untrusted bytes: the decoded parts of a received message. Pure, any thread; each reader appends
// at most limits.recipients_max recipients and cuts diagnostics to limits.diagnostic_bytes_max.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relay/bounce/mime.h"
#include "relay/bounce/report.h"

namespace relay::bounce::internal {

// RFC 3464 §2.2-2.3: the per-message and per-recipient field groups of a message/delivery-status
// body. `explanation` is the human-readable part, read when a recipient's diagnostic says nothing.
// Returns whether a recipient was found.
bool read_delivery_status(std::string_view body, std::string_view explanation,
                          const ReportLimits& limits, Report& report);

// RFC 5965 §3.1: the fields of a message/feedback-report body. `original` holds the header fields
// of the reported message, whose To names the recipient when no Original-Rcpt-To does.
void read_feedback(std::string_view body, const HeaderFields& original, const ReportLimits& limits,
                   Report& report);

// A bounce in free text: recipients are those of an X-Failed-Recipients field, else the addresses
// the explanation names other than `excluded` (the report's own sender and recipients) and
// mail-system addresses.
void read_plain_bounce(std::string_view explanation, const HeaderFields& headers,
                       const std::vector<std::string>& excluded, const ReportLimits& limits,
                       Report& report);

// Whether the report is a complaint in a provider's own format (Hotmail's "complaint about
// message from", a forwarded message only), and its recipient from the quoted message.
bool looks_like_provider_complaint(const HeaderFields& headers);

// Whether the report's header fields or explanation mark a bounce (a mail-system sender, a
// subject such as "Undelivered Mail Returned to Sender", a failure code next to an address).
bool looks_like_bounce(const HeaderFields& headers, std::string_view explanation);

// Whether the report's header fields mark an automatic answer (RFC 3834 Auto-Submitted,
// X-Autoreply, a vacation or out-of-office subject).
bool looks_like_auto_reply(const HeaderFields& headers);

// Cuts a diagnostic text to `bytes_max`, line breaks and runs of whitespace folded to one space.
std::string folded_text(std::string_view text, std::size_t bytes_max);

}  // namespace relay::bounce::internal
