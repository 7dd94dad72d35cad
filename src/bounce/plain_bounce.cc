// plain_bounce.cc -- bounces that are no RFC 3464 report (qmail, Exim, Sendmail, Exchange, large
// providers), and automatic answers (RFC 3834): how to tell them apart and whom they name.
//
// Untrusted bytes: the explanation text and the report's header fields. Any thread. Each
// recipient's diagnostic is the text from its address to the next recipient's address; the
// status, reply code and phrases are read there first, then in the whole explanation.
#include <algorithm>
#include <array>
#include <span>
#include <string>

#include "relay/base/ascii.h"
#include "relay/bounce/classify.h"
#include "relay/bounce/mime.h"
#include "report_parts.h"
#include "text_scan.h"

namespace relay::bounce::internal {
namespace {

// Subjects of bounces (lower-case substrings), in the languages of the MTAs that write them.
constexpr auto bounce_subjects = std::to_array<std::string_view>({
    "undeliver",
    "undelivered",
    "delivery status notification",
    "delivery failure",
    "delivery failed",
    "failure notice",
    "returned mail",
    "mail delivery failed",
    "delivery has failed",
    "could not be delivered",
    "not delivered",
    "non remis",
    "unzustellbar",
    "returned to sender",
    "mail system error",
    "delivery notification",
    "nondeliverable",
    "non-deliverable",
    "delivery problem",
    "failed delivery",
    "permanent error",
    "delivery report",
    "mail failure",
    "unable to deliver",
    "message not delivered",
    "delivery error",
    "warning: could not send",
    "delayed mail",
    "mail could not",
    "rejected",
    "returned",
    "failure",
    "fehlgeschlagen",
    "error",
    "bounce",
});

// Subjects of automatic answers.
constexpr auto auto_reply_subjects = std::to_array<std::string_view>({
    "out of office",
    "out of the office",
    "auto reply",
    "auto-reply",
    "autoreply",
    "automatic reply",
    "auto:",
    "away from",
    "away until",
    "on vacation",
    "vacation",
    "abwesenheit",
    "absence",
    "autosvar",
    "respuesta automática",
    "réponse automatique",
});

// Display names and local parts of the senders of bounces.
constexpr auto bounce_senders = std::to_array<std::string_view>({
    "mailer-daemon",
    "mailer_daemon",
    "postmaster",
    "mail delivery",
    "mail-daemon",
    "maildaemon",
    "mailerdaemon",
    "mdaemon",
    "bounce",
});

bool ends_with_ignoring_case(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() &&
           equal_ignoring_case(text.substr(text.size() - suffix.size()), suffix);
}

bool contains_any(std::string_view text, std::span<const std::string_view> needles) {
    for (std::string_view needle : needles) {
        if (find_ignoring_case(text, needle) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

// Whether the address at `position` stands in a quoted Message-ID, In-Reply-To, References or
// Received line: a message identifier or a host's trace, not a recipient.
bool is_in_trace_field(std::string_view text, std::size_t position) {
    std::size_t line_start = text.rfind('\n', position);
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    std::string_view line = text.substr(line_start, position - line_start);
    while (!line.empty() && (line.front() == '>' || line.front() == ' ' || line.front() == '\t')) {
        line.remove_prefix(1);
    }
    constexpr auto trace_fields = std::to_array<std::string_view>({
        "message-id:",
        "in-reply-to:",
        "references:",
        "received:",
        "x-",
        "id ",
    });
    for (std::string_view field : trace_fields) {
        if (starts_with_ignoring_case(line, field)) {
            return true;
        }
    }
    return false;
}

struct Candidate {
    std::string_view address;
    std::size_t position = 0;
};

// The failed recipients the explanation names: addresses in order of first mention, without the
// report's own addresses and mail-system addresses.
std::vector<Candidate> candidates_of(std::string_view explanation,
                                     const std::vector<std::string>& excluded,
                                     std::size_t count_max) {
    std::vector<Candidate> candidates;
    std::vector<std::string> seen;
    for (const AddressMatch& match : find_addresses(explanation, count_max * 4)) {
        if (candidates.size() == count_max) {
            break;
        }
        if (is_system_address(match.address) || contains_ignoring_case(excluded, match.address) ||
            contains_ignoring_case(seen, match.address) ||
            is_in_trace_field(explanation, match.position)) {
            continue;
        }
        seen.emplace_back(match.address);
        candidates.push_back(Candidate{match.address, match.position});
    }
    return candidates;
}

// "... host mx.example.net[192.0.2.1] said: ..." or "remote host 192.0.2.1 said:": the host.
std::string remote_host_of(std::string_view text) {
    std::size_t said = find_ignoring_case(text, " said:");
    if (said == std::string_view::npos) {
        return {};
    }
    std::string_view before = text.substr(0, said);
    std::size_t start = before.find_last_of(" \t\n(");
    std::string_view host = before.substr(start == std::string_view::npos ? 0 : start + 1);
    std::size_t bracket = host.find('[');
    if (bracket != std::string_view::npos && bracket > 0) {
        host = host.substr(0, bracket);
    }
    return std::string(host);
}

// The whole explanation and its codes, read once for all its recipients.
struct ExplanationCodes {
    std::string_view text;
    std::string status;
    std::string reply_code;
};

FailedRecipient recipient_of(std::string_view address, std::string_view own_text,
                             const ExplanationCodes& whole, const ReportLimits& limits) {
    FailedRecipient recipient;
    recipient.address = std::string(address);
    recipient.action = "failed";
    std::string_view words = own_text;
    recipient.status = find_enhanced_status(words);
    recipient.reply_code = find_reply_code(words);
    // Codes elsewhere in the explanation speak of this recipient only when its own text has none.
    bool borrowed = recipient.status.empty() && recipient.reply_code.empty();
    if (borrowed) {
        recipient.status = whole.status;
        recipient.reply_code = whole.reply_code;
    }
    recipient.diagnostic = folded_text(words, limits.diagnostic_bytes_max);
    recipient.remote_mta = remote_host_of(own_text);
    recipient.classification = classify(recipient.status, recipient.reply_code, words, "failed");
    if (recipient.classification.reason == BounceReason::unknown) {
        recipient.classification =
            classify(recipient.status, recipient.reply_code, whole.text, "failed");
    }
    if (recipient.classification.reason == BounceReason::unknown &&
        ends_with_ignoring_case(address, "@googlegroups.com")) {
        // Google Groups answers in the sender's language: the group does not exist or does not
        // let this sender post. Either way the refusal is of the sender.
        recipient.classification = Classification{BounceClass::soft, BounceReason::sender_rejected};
    }
    if (!recipient.status.empty() && recipient.status[0] == '4' &&
        recipient.classification.bounce_class == BounceClass::soft) {
        recipient.action = "delayed";
    }
    return recipient;
}

// Mentions of addresses read per explanation; later ones are not told apart.
constexpr std::size_t mentions_max = 256;
// Text read after one mention: a recipient's diagnostic is a few lines, never pages.
constexpr std::size_t recipient_text_bytes_max = 4096;
// Mentions of one recipient tried for a code or a phrase before the first is taken.
constexpr std::size_t mentions_tried_max = 8;

bool is_one_of(std::string_view address, const std::vector<std::string_view>& addresses) {
    for (std::string_view entry : addresses) {
        if (equal_ignoring_case(entry, address)) {
            return true;
        }
    }
    return false;
}

// The text about one recipient: after one of its mentions, up to the next mention of another
// recipient. Bounces often list the addresses first and explain each later, so the first mention
// followed by a code or a known phrase is taken, else the first mention; a recipient the text
// never names gets the whole explanation.
std::string_view text_of_recipient(std::string_view explanation,
                                   const std::vector<AddressMatch>& mentions,
                                   const std::vector<std::string_view>& recipients,
                                   std::string_view address) {
    std::string_view first;
    bool named = false;
    std::size_t tried = 0;
    for (std::size_t index = 0; index < mentions.size() && tried < mentions_tried_max; ++index) {
        if (!equal_ignoring_case(mentions[index].address, address)) {
            continue;
        }
        std::size_t start = mentions[index].position + mentions[index].address.size();
        std::size_t end = explanation.size();
        for (std::size_t next = index + 1; next < mentions.size(); ++next) {
            if (!equal_ignoring_case(mentions[next].address, address) &&
                is_one_of(mentions[next].address, recipients)) {
                end = mentions[next].position;
                break;
            }
        }
        std::string_view text =
            explanation.substr(start, std::min(end - start, recipient_text_bytes_max));
        ++tried;
        if (!named) {
            first = text;
            named = true;
        }
        if (!find_enhanced_status(text).empty() || !find_reply_code(text).empty() ||
            reason_from_phrases(text) != BounceReason::unknown) {
            return text;
        }
    }
    return named ? first : explanation;
}

}  // namespace

bool looks_like_bounce(const HeaderFields& headers, std::string_view explanation) {
    if (contains_any(headers.get("from"), bounce_senders) ||
        contains_any(headers.get("subject"), bounce_subjects)) {
        return true;
    }
    // No telling header: a failure code in the text is enough, as long as no automatic answer
    // says otherwise.
    if (looks_like_auto_reply(headers)) {
        return false;
    }
    std::string status = find_enhanced_status(explanation);
    return !status.empty() && status[0] != '2';
}

bool looks_like_provider_complaint(const HeaderFields& headers) {
    return find_ignoring_case(headers.get("subject"), "complaint about message") !=
               std::string_view::npos ||
           equal_ignoring_case(first_address(headers.get("from")), "staff@hotmail.com");
}

bool looks_like_auto_reply(const HeaderFields& headers) {
    std::string_view auto_submitted = headers.get("auto-submitted");
    if (!auto_submitted.empty() && !starts_with_ignoring_case(auto_submitted, "no")) {
        return true;
    }
    return headers.has("x-autoreply") || headers.has("x-autorespond") ||
           headers.has("x-autoresponder") ||
           equal_ignoring_case(headers.get("precedence"), "auto_reply") ||
           contains_any(headers.get("subject"), auto_reply_subjects);
}

void read_plain_bounce(std::string_view explanation, const HeaderFields& headers,
                       const std::vector<std::string>& excluded, const ReportLimits& limits,
                       Report& report) {
    std::vector<std::string_view> recipients;
    for (const Candidate& candidate : candidates_of(explanation, excluded, limits.recipients_max)) {
        recipients.push_back(candidate.address);
    }
    // Exim and Google name the failed recipients in a field of their own: those, and no others.
    std::string_view failed_field = headers.get("x-failed-recipients");
    std::vector<AddressMatch> failed = find_addresses(failed_field, limits.recipients_max);
    if (!failed.empty()) {
        recipients.clear();
        for (const AddressMatch& match : failed) {
            recipients.push_back(match.address);
        }
    }
    std::vector<AddressMatch> mentions = find_addresses(explanation, mentions_max);
    ExplanationCodes whole{explanation, find_enhanced_status(explanation),
                           find_reply_code(explanation)};
    for (std::string_view address : recipients) {
        std::string_view own_text = text_of_recipient(explanation, mentions, recipients, address);
        report.recipients.push_back(recipient_of(address, own_text, whole, limits));
    }
}

}  // namespace relay::bounce::internal
