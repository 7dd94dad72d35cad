// outcome.h -- what one received report means for the stop lists and the statistics: which
// recipient of the message relay sent, and whether it bounced hard, bounced soft or complained.
//
// The report (report.h) says who failed and why; what ties it to relay's own mail is the VERP
// token of the address it came back to (verp.h), checked before this is called, and otherwise
// the recipients that the Message-ID index holds for the original message. Nothing the report
// says is believed on its own: an address becomes an outcome only when the token's recipient
// fingerprint or the indexed envelope vouches for it, so a forged report can name only a
// recipient of a message that was really sent (and, with a token, only the one recipient the
// token names).
//
// Pure: values in, values out; no I/O, no logging, any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/bounce/classify.h"
#include "relay/bounce/report.h"
#include "relay/bounce/verp.h"

namespace relay::bounce {

enum class OutcomeKind : std::uint8_t { hard_bounce, soft_bounce, complaint };

std::string_view outcome_kind_name(OutcomeKind kind);

struct Outcome {
    std::string recipient;  // as the report or the index wrote it
    OutcomeKind kind = OutcomeKind::soft_bounce;
    BounceReason reason = BounceReason::unknown;
    std::string status;  // enhanced status code; empty when the report gives none
};

// The outcomes of `report`. `token` is the verified token of the address the report was sent to
// (nullopt: none, e.g. a complaint to a feedback-loop address); `sent_recipients` are the
// envelope recipients of the original message from the Message-ID index (empty: not found).
// With a token at most one outcome comes back, for the recipient whose fingerprint it carries.
// Without one, each failed recipient of the report that is one of `sent_recipients`; a complaint
// that names none of them stands for the message's only recipient when it had one. Auto-replies,
// unknown reports, delivered notices and ARF "not-spam" reports give none.
std::vector<Outcome> decide_outcomes(const Report& report, const std::optional<VerpToken>& token,
                                     std::span<const std::string> sent_recipients);

// Whether two addresses name the same mailbox as relay compares them: the whole address without
// regard to ASCII case (the VERP fingerprint is made so too).
bool same_address(std::string_view left, std::string_view right);

}  // namespace relay::bounce
