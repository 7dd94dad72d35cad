// outcome.cc -- from a parsed report to the outcomes that feed the stop lists (see outcome.h).
//
// Untrusted input: the report's addresses come from whoever sent it; only the token's fingerprint
// or the indexed envelope lets one through. Thread: any (pure).
#include "relay/bounce/outcome.h"

#include <algorithm>

#include "relay/base/ascii.h"
#include "relay/bounce/mime.h"

namespace relay::bounce {
namespace {

// One address the report names, with the class it gives it.
struct Candidate {
    std::string_view address;
    OutcomeKind kind;
    BounceReason reason;
    std::string_view status;
};

std::optional<OutcomeKind> kind_of(BounceClass bounce_class) {
    switch (bounce_class) {
        case BounceClass::hard:
            return OutcomeKind::hard_bounce;
        case BounceClass::soft:
            return OutcomeKind::soft_bounce;
        case BounceClass::complaint:
            return OutcomeKind::complaint;
        default:
            return std::nullopt;
    }
}

// Every address of the report that may be the failed recipient, in the report's order: each
// recipient's final then original address; for a complaint, the ARF Original-Rcpt-To first.
std::vector<Candidate> candidates_of(const Report& report) {
    std::vector<Candidate> candidates;
    if (report.kind == ReportKind::feedback) {
        if (report.feedback.feedback_type == "not-spam") {
            return candidates;  // a user took a message out of the spam folder: no complaint
        }
        for (const std::string& address : report.feedback.original_rcpt_to) {
            candidates.push_back({address, OutcomeKind::complaint, BounceReason::complaint, {}});
        }
        for (const FailedRecipient& recipient : report.recipients) {
            candidates.push_back(
                {recipient.address, OutcomeKind::complaint, BounceReason::complaint, {}});
        }
        return candidates;
    }
    if (report.kind != ReportKind::delivery_status && report.kind != ReportKind::plain_bounce) {
        return candidates;
    }
    for (const FailedRecipient& recipient : report.recipients) {
        std::optional<OutcomeKind> kind = kind_of(recipient.classification.bounce_class);
        if (!kind || *kind == OutcomeKind::complaint) {
            continue;  // delivered, delayed without failure, unknown
        }
        for (std::string_view address :
             {std::string_view(recipient.address), std::string_view(recipient.original_address)}) {
            if (!address.empty()) {
                candidates.push_back(
                    {address, *kind, recipient.classification.reason, recipient.status});
            }
        }
    }
    return candidates;
}

Outcome outcome_of(std::string_view address, const Candidate& how) {
    return Outcome{std::string(address), how.kind, how.reason, std::string(how.status)};
}

// With a token: the one recipient whose fingerprint it carries, named by the report or, when
// the report names it otherwise (a forwarding address, a rewritten one), by the index.
std::vector<Outcome> decide_with_token(const std::vector<Candidate>& candidates,
                                       const VerpToken& token,
                                       std::span<const std::string> sent_recipients) {
    for (const Candidate& candidate : candidates) {
        if (verp_recipient_fingerprint(candidate.address) == token.recipient_fingerprint) {
            return {outcome_of(candidate.address, candidate)};
        }
    }
    auto sent = std::find_if(
        sent_recipients.begin(), sent_recipients.end(), [&](const std::string& recipient) {
            return verp_recipient_fingerprint(recipient) == token.recipient_fingerprint;
        });
    if (sent == sent_recipients.end()) {
        return {};
    }
    return {outcome_of(*sent, candidates.front())};
}

std::vector<Outcome> decide_without_token(const std::vector<Candidate>& candidates,
                                          const Report& report,
                                          std::span<const std::string> sent_recipients) {
    std::vector<Outcome> outcomes;
    for (const Candidate& candidate : candidates) {
        auto sent = std::find_if(sent_recipients.begin(), sent_recipients.end(),
                                 [&](const std::string& recipient) {
                                     return same_address(recipient, candidate.address);
                                 });
        bool seen = std::any_of(outcomes.begin(), outcomes.end(), [&](const Outcome& outcome) {
            return same_address(outcome.recipient, candidate.address);
        });
        if (sent != sent_recipients.end() && !seen) {
            outcomes.push_back(outcome_of(*sent, candidate));
        }
    }
    // Complaints often hide the complainer's address (RFC 6650 §3: redaction); a message with
    // one recipient still says who it was.
    if (outcomes.empty() && report.kind == ReportKind::feedback && sent_recipients.size() == 1) {
        outcomes.push_back(outcome_of(sent_recipients.front(), candidates.front()));
    }
    return outcomes;
}

}  // namespace

std::string_view outcome_kind_name(OutcomeKind kind) {
    switch (kind) {
        case OutcomeKind::hard_bounce:
            return "hard_bounce";
        case OutcomeKind::soft_bounce:
            return "soft_bounce";
        case OutcomeKind::complaint:
            return "complaint";
    }
    return "unknown";
}

bool same_address(std::string_view left, std::string_view right) {
    return equal_ignoring_case(left, right);
}

std::vector<Outcome> decide_outcomes(const Report& report, const std::optional<VerpToken>& token,
                                     std::span<const std::string> sent_recipients) {
    std::vector<Candidate> candidates = candidates_of(report);
    if (candidates.empty()) {
        // A complaint that names nobody still has a class; a bounce that names nobody has none.
        if (report.kind == ReportKind::feedback && report.feedback.feedback_type != "not-spam") {
            candidates.push_back({{}, OutcomeKind::complaint, BounceReason::complaint, {}});
        } else {
            return {};
        }
    }
    if (token) {
        return decide_with_token(candidates, *token, sent_recipients);
    }
    return decide_without_token(candidates, report, sent_recipients);
}

}  // namespace relay::bounce
