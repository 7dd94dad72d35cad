// report.cc -- parse_report: walks the message's MIME tree once, picks the reader for what it
// holds (feedback report, delivery status, plain-text bounce, auto-reply) and finds what ties the
// report to the message we sent (our VERP address, the original Message-ID).
//
// Untrusted bytes: the whole received message. Any thread. The input is cut to
// message_bytes_max before anything reads it; every later step works on bounded parts.
// Standards: RFC 3464, RFC 5965, RFC 3834, RFC 6522 (see report.h).
#include "relay/bounce/report.h"

#include <array>
#include <span>

#include "relay/base/ascii.h"
#include "relay/base/assert.h"
#include "report_parts.h"
#include "text_scan.h"

namespace relay::bounce {
namespace {
using internal::contains_ignoring_case;

// Fields of the report itself that say where it was delivered.
constexpr auto addressed_fields = std::to_array<std::string_view>({
    "to",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-rcpt-to",
});

// Fields of the report itself whose addresses are never a failed recipient (not Delivered-To:
// a report may well be delivered through an alias that names the failed address).
constexpr auto own_fields = std::to_array<std::string_view>({
    "from",
    "to",
    "return-path",
    "reply-to",
    "sender",
    "errors-to",
});

bool is_one_of(std::string_view name, std::span<const std::string_view> names) {
    for (std::string_view candidate : names) {
        if (equal_ignoring_case(name, candidate)) {
            return true;
        }
    }
    return false;
}

// Adds where the report was sent, once, with its VERP token if it has one.
void add_addressed_to(std::string_view address, const ReportLimits& limits, Report& report) {
    if (report.addressed_to.size() == limits.recipients_max ||
        contains_ignoring_case(report.addressed_to, address)) {
        return;
    }
    report.addressed_to.emplace_back(address);
    std::string_view local = address.substr(0, address.find('@'));
    if (starts_with_ignoring_case(local, limits.verp_prefix) &&
        local.size() > limits.verp_prefix.size()) {
        report.verp_tokens.emplace_back(local.substr(limits.verp_prefix.size()));
    }
}

void read_addressed_to(const HeaderFields& headers, const ReportLimits& limits, Report& report) {
    for (const HeaderField& field : headers.fields) {
        if (!is_one_of(field.name, addressed_fields)) {
            continue;
        }
        for (const internal::AddressMatch& match :
             internal::find_addresses(field.value, limits.recipients_max)) {
            add_addressed_to(match.address, limits, report);
        }
    }
}

std::vector<std::string> own_addresses(const HeaderFields& headers) {
    std::vector<std::string> addresses;
    for (const HeaderField& field : headers.fields) {
        if (!is_one_of(field.name, own_fields)) {
            continue;
        }
        for (const internal::AddressMatch& match : internal::find_addresses(field.value, 16)) {
            addresses.emplace_back(match.address);
        }
    }
    return addresses;
}

bool is_original_message(std::string_view media_type) {
    return media_type == "message/rfc822" || media_type == "message/global" ||
           media_type == "text/rfc822-headers" || media_type == "message/rfc822-headers" ||
           media_type == "message/global-headers" || media_type == "message/partial";
}

bool is_delivery_status(std::string_view media_type) {
    return media_type == "message/delivery-status" ||
           media_type == "message/global-delivery-status";
}

// The parts parse_report reads, found in one pass over the tree.
struct Parts {
    const MimePart* delivery_status = nullptr;
    const MimePart* feedback = nullptr;
    const MimePart* original = nullptr;
    const MimePart* text = nullptr;
    const MimePart* html = nullptr;
};

Parts find_parts(const MimeTree& tree) {
    Parts parts;
    for (const MimePart& part : tree.parts) {
        if (is_delivery_status(part.media_type) && parts.delivery_status == nullptr) {
            parts.delivery_status = &part;
        } else if (part.media_type == "message/feedback-report" && parts.feedback == nullptr) {
            parts.feedback = &part;
        } else if (is_original_message(part.media_type) && parts.original == nullptr) {
            parts.original = &part;
        } else if (part.media_type == "text/plain" && parts.text == nullptr &&
                   (part.depth > 0 || !part.body.empty())) {
            parts.text = &part;
        } else if (part.media_type == "text/html" && parts.html == nullptr) {
            parts.html = &part;
        }
    }
    return parts;
}

void read_original(const Parts& parts, std::string_view text, const ReportLimits& limits,
                   Report& report, HeaderFields& original_headers) {
    if (parts.original != nullptr) {
        HeaderBlock block = parse_header_block(parts.original->body, limits.header_fields_max);
        original_headers = std::move(block.headers);
        report.original_message_id = std::string(original_headers.get("message-id"));
        report.original_subject = std::string(original_headers.get("subject"));
    }
    if (report.original_message_id.empty()) {
        // Quoted headers after the explanation of a plain-text bounce.
        report.original_message_id = internal::find_message_id_line(text);
    }
}

Classification overall_classification(const Report& report) {
    switch (report.kind) {
        case ReportKind::feedback:
            return Classification{BounceClass::complaint, BounceReason::complaint};
        case ReportKind::auto_reply:
            return Classification{BounceClass::auto_reply, BounceReason::auto_reply};
        case ReportKind::unknown:
            return Classification{};
        case ReportKind::delivery_status:
        case ReportKind::plain_bounce:
            break;
    }
    for (const FailedRecipient& recipient : report.recipients) {
        if (recipient.classification.reason != BounceReason::delivered) {
            return recipient.classification;
        }
    }
    return report.recipients.empty() ? Classification{} : report.recipients.front().classification;
}

// One message read as a report. `enclosed` receives the body of an attached message/rfc822 part,
// for a caller that finds nothing else (a bounce forwarded as an attachment).
Report parse_message(std::string_view message, const ReportLimits& limits, std::string* enclosed) {
    Report report;
    MimeTree tree = walk_mime(
        message, MimeLimits{limits.depth_max, limits.parts_max, limits.header_fields_max});
    RELAY_ASSERT(!tree.parts.empty());
    report.truncated = tree.truncated;
    const HeaderFields& headers = tree.parts.front().headers;
    read_addressed_to(headers, limits, report);

    Parts parts = find_parts(tree);
    std::string html_text;
    std::string_view text;
    if (parts.text != nullptr) {
        text = parts.text->body;
    } else if (parts.html != nullptr) {
        html_text = internal::text_of_html(parts.html->body);
        text = html_text;
    }
    std::string_view explanation = internal::explanation_of(text);
    HeaderFields original_headers;
    read_original(parts, text.substr(explanation.size()), limits, report, original_headers);
    if (parts.original != nullptr && parts.original->media_type == "message/rfc822") {
        *enclosed = parts.original->body;
    }

    if (parts.feedback != nullptr) {
        report.kind = ReportKind::feedback;
        internal::read_feedback(parts.feedback->body, original_headers, limits, report);
    } else if (parts.original != nullptr && internal::looks_like_provider_complaint(headers)) {
        report.kind = ReportKind::feedback;
        internal::read_feedback({}, original_headers, limits, report);
    } else if (parts.delivery_status != nullptr &&
               internal::read_delivery_status(parts.delivery_status->body, explanation, limits,
                                              report)) {
        report.kind = ReportKind::delivery_status;
    } else if (internal::looks_like_bounce(headers, explanation)) {
        report.kind = ReportKind::plain_bounce;
        internal::read_plain_bounce(explanation, headers, own_addresses(headers), limits, report);
    } else if (internal::looks_like_auto_reply(headers)) {
        report.kind = ReportKind::auto_reply;
        FailedRecipient sender;
        sender.address = internal::first_address(headers.get("from"));
        sender.classification = Classification{BounceClass::auto_reply, BounceReason::auto_reply};
        report.recipients.push_back(std::move(sender));
    }
    report.classification = overall_classification(report);
    return report;
}

}  // namespace

std::string_view kind_name(ReportKind kind) {
    switch (kind) {
        case ReportKind::delivery_status:
            return "delivery_status";
        case ReportKind::feedback:
            return "feedback";
        case ReportKind::plain_bounce:
            return "plain_bounce";
        case ReportKind::auto_reply:
            return "auto_reply";
        case ReportKind::unknown:
            return "unknown";
    }
    return "unknown";
}

Report parse_report(std::string_view message, const ReportLimits& limits) {
    bool cut = message.size() > limits.message_bytes_max;
    message = message.substr(0, limits.message_bytes_max);
    std::string enclosed;
    Report report = parse_message(message, limits, &enclosed);
    report.truncated = report.truncated || cut;
    if (report.recipients.empty() && report.kind != ReportKind::feedback && !enclosed.empty()) {
        // A report forwarded as an attachment (by a mailbox rule, a help desk, a gateway): read
        // the attachment once, never deeper, and keep where the outer message was sent too.
        std::string nested_enclosed;
        Report inner = parse_message(enclosed, limits, &nested_enclosed);
        // A bounce's attachment is usually the message we sent: only a machine-readable report
        // in it, or a bounce inside a message that is none, is taken for the real one.
        bool machine_readable =
            inner.kind == ReportKind::delivery_status || inner.kind == ReportKind::feedback;
        bool trusted = machine_readable || (report.kind == ReportKind::unknown &&
                                            inner.kind == ReportKind::plain_bounce);
        if (trusted && !inner.recipients.empty()) {
            std::vector<std::string> inner_addressed_to = std::move(inner.addressed_to);
            inner.addressed_to.clear();
            inner.verp_tokens.clear();
            for (const std::string& address : report.addressed_to) {
                add_addressed_to(address, limits, inner);
            }
            for (const std::string& address : inner_addressed_to) {
                add_addressed_to(address, limits, inner);
            }
            inner.truncated = inner.truncated || report.truncated;
            report = std::move(inner);
        }
    }
    return report;
}

}  // namespace relay::bounce
