// field_reports.cc -- the two machine-readable reports, both groups of header-like fields:
// message/delivery-status (RFC 3464 §2) and message/feedback-report (RFC 5965 §3).
//
// Untrusted bytes: the decoded report part. Any thread. Groups are read one after the other with
// the header-block reader; at most recipients_max + 1 groups are read, so a report of a million
// empty groups costs one pass and no memory.
#include <algorithm>
#include <string>

#include "relay/base/ascii.h"
#include "relay/bounce/classify.h"
#include "relay/bounce/mime.h"
#include "report_parts.h"
#include "text_scan.h"

namespace relay::bounce::internal {
namespace {

// "rfc822; user@example.com" to "user@example.com", "dns; mx.example" to "mx.example",
// "smtp; 550 ..." to "550 ..." (RFC 3464 §2.1.2: address-type or diagnostic-type first).
std::string_view after_type(std::string_view value) {
    std::size_t semicolon = value.find(';');
    if (semicolon != std::string_view::npos) {
        value.remove_prefix(semicolon + 1);
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
    }
    return value;
}

std::string address_of(std::string_view value) {
    std::string_view typed = after_type(value);
    if (typed.size() >= 2 && typed.front() == '<' && typed.back() == '>') {
        typed = typed.substr(1, typed.size() - 2);
    }
    if (typed.find('@') != std::string_view::npos) {
        return std::string(typed);
    }
    return first_address(value);
}

bool is_generic_status(std::string_view status) {
    return status.size() >= 5 && status.substr(1) == ".0.0";
}

FailedRecipient recipient_of(const HeaderFields& group, std::string_view explanation,
                             const ReportLimits& limits) {
    FailedRecipient recipient;
    recipient.original_address = address_of(group.get("original-recipient"));
    recipient.address = address_of(group.get("final-recipient"));
    if (recipient.address.empty()) {
        recipient.address = recipient.original_address;
    }
    recipient.action = ascii_lower(after_type(group.get("action")));
    std::string_view diagnostic = after_type(group.get("diagnostic-code"));
    if (diagnostic.empty()) {
        // Some MTAs leave the reason to the human-readable part only.
        diagnostic = text_about(explanation, recipient.address);
    }
    recipient.diagnostic = folded_text(diagnostic, limits.diagnostic_bytes_max);
    recipient.remote_mta = std::string(after_type(group.get("remote-mta")));
    recipient.status = find_enhanced_status(group.get("status"));
    std::string diagnostic_status = find_enhanced_status(diagnostic);
    // "Status: 5.0.0" (or 5.1.1) with "550 5.7.1 ... blacklisted" in the diagnostic: the
    // diagnostic is the receiver's own word, the Status field the reporting MTA's summary.
    if (recipient.status.empty() ||
        (!is_generic_status(diagnostic_status) && !diagnostic_status.empty() &&
         diagnostic_status[0] == recipient.status[0])) {
        recipient.status = diagnostic_status.empty() ? recipient.status : diagnostic_status;
    }
    recipient.reply_code = find_reply_code(diagnostic);
    std::string_view words = diagnostic.empty() ? explanation : diagnostic;
    recipient.classification =
        classify(recipient.status, recipient.reply_code, words, recipient.action);
    if (recipient.classification.reason == BounceReason::unknown && !diagnostic.empty()) {
        recipient.classification =
            classify(recipient.status, recipient.reply_code, explanation, recipient.action);
    }
    if (recipient.classification.reason == BounceReason::no_such_user &&
        rejected_after_data(text_about(explanation, recipient.address))) {
        recipient.classification.reason = BounceReason::filtered;
        recipient.classification.bounce_class = BounceClass::soft;
    }
    return recipient;
}

}  // namespace

std::string folded_text(std::string_view text, std::size_t bytes_max) {
    std::string folded;
    folded.reserve(std::min(text.size(), bytes_max));
    bool space = false;
    for (char octet : text) {
        if (folded.size() >= bytes_max) {
            break;
        }
        if (octet == ' ' || octet == '\t' || octet == '\r' || octet == '\n') {
            space = !folded.empty();
            continue;
        }
        if (space) {
            folded.push_back(' ');
            space = false;
        }
        folded.push_back(octet);
    }
    if (folded.size() > bytes_max) {
        folded.resize(bytes_max);
    }
    return folded;
}

bool read_delivery_status(std::string_view body, std::string_view explanation,
                          const ReportLimits& limits, Report& report) {
    std::size_t groups_left = limits.recipients_max + 1;
    bool found = false;
    while (!body.empty() && groups_left > 0) {
        HeaderBlock block = parse_header_block(body, limits.header_fields_max);
        std::size_t consumed = block.body_offset;
        if (consumed == 0) {
            // A line that is no field: skip it.
            std::size_t line_end = body.find('\n');
            consumed = line_end == std::string_view::npos ? body.size() : line_end + 1;
        }
        body.remove_prefix(consumed);
        if (block.headers.fields.empty()) {
            continue;
        }
        --groups_left;
        const HeaderFields& group = block.headers;
        if (!group.has("final-recipient") && !group.has("original-recipient")) {
            continue;  // the per-message group
        }
        if (report.recipients.size() == limits.recipients_max) {
            report.truncated = true;
            break;
        }
        report.recipients.push_back(recipient_of(group, explanation, limits));
        found = true;
    }
    return found;
}

void read_feedback(std::string_view body, const HeaderFields& original, const ReportLimits& limits,
                   Report& report) {
    HeaderBlock block = parse_header_block(body, limits.header_fields_max);
    const HeaderFields& fields = block.headers;
    Feedback& feedback = report.feedback;
    feedback.feedback_type = ascii_lower(fields.get("feedback-type"));
    feedback.user_agent = std::string(fields.get("user-agent"));
    feedback.original_mail_from = first_address(fields.get("original-mail-from"));
    feedback.reported_domain = std::string(fields.get("reported-domain"));
    feedback.source_ip = std::string(fields.get("source-ip"));
    feedback.arrival_date = std::string(fields.get("arrival-date"));
    if (feedback.arrival_date.empty()) {
        feedback.arrival_date = std::string(fields.get("received-date"));
    }
    for (const HeaderField& field : fields.fields) {
        if (equal_ignoring_case(field.name, "original-rcpt-to") &&
            feedback.original_rcpt_to.size() < limits.recipients_max) {
            std::string address = first_address(field.value);
            if (!address.empty()) {
                feedback.original_rcpt_to.push_back(std::move(address));
            }
        }
    }
    std::vector<std::string> addresses = feedback.original_rcpt_to;
    if (addresses.empty()) {
        // A complaint that quotes only the original headers: their To is who complained.
        std::string address = first_address(original.get("to"));
        if (!address.empty()) {
            addresses.push_back(std::move(address));
        }
    }
    for (std::string& address : addresses) {
        FailedRecipient recipient;
        recipient.address = std::move(address);
        recipient.action = "complained";
        recipient.classification = Classification{BounceClass::complaint, BounceReason::complaint};
        report.recipients.push_back(std::move(recipient));
    }
}

}  // namespace relay::bounce::internal
