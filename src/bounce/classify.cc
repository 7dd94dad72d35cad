// classify.cc -- status codes, reply codes and known phrases to a class and a reason (see
// classify.h; docs/bounces.md carries the same tables for operators).
//
// Untrusted bytes: the diagnostic text. Any thread. The phrase table is scanned in order and the
// first phrase found wins, so narrower phrases stand before the broad ones that contain them
// ("mailbox size limit" before "size limit"). Texts are cut to text_bytes_max before the scan.
// Standards: RFC 3463 (enhanced status codes), RFC 5321 §4.2.3 (reply codes), RFC 7505 (null MX),
// RFC 7372 (X.7.20-X.7.26 authentication codes).
#include "relay/bounce/classify.h"

#include <algorithm>
#include <array>
#include <span>
#include <vector>

#include "relay/base/ascii.h"
#include "relay/bounce/mime.h"

namespace relay::bounce {
namespace {

// A diagnostic longer than this is cut before the phrase scan (bounded work per recipient).
constexpr std::size_t text_bytes_max = 8192;

struct Phrase {
    std::string_view text;  // lower case
    BounceReason reason;
};

// Phrases written by common MTAs and mailbox providers, narrow before broad.
constexpr auto phrases = std::to_array<Phrase>({
    {"mailbox size limit", BounceReason::mailbox_full},
    {"mailbox full", BounceReason::mailbox_full},
    {"mailbox is full", BounceReason::mailbox_full},
    {"mail box full", BounceReason::mailbox_full},
    {"mailbox has exceeded", BounceReason::mailbox_full},
    {"inbox is full", BounceReason::mailbox_full},
    {"inbox is out of storage", BounceReason::mailbox_full},
    {"account is full", BounceReason::mailbox_full},
    {"mailfolder is full", BounceReason::mailbox_full},
    {"quota exceeded", BounceReason::mailbox_full},
    {"exceeded storage allocation", BounceReason::mailbox_full},
    {"exceeds the quota", BounceReason::mailbox_full},
    {"over quota", BounceReason::mailbox_full},
    {"overquota", BounceReason::mailbox_full},
    {"over its quota", BounceReason::mailbox_full},
    {"disk quota", BounceReason::mailbox_full},
    {"quota full", BounceReason::mailbox_full},
    {"insufficient system storage", BounceReason::system_full},
    {"system full", BounceReason::system_full},
    {"disk full", BounceReason::system_full},
    {"has moved", BounceReason::has_moved},
    {"address has changed", BounceReason::has_moved},
    {"relay access denied", BounceReason::relaying_denied},
    {"relaying denied", BounceReason::relaying_denied},
    {"relay denied", BounceReason::relaying_denied},
    {"relay not permitted", BounceReason::relaying_denied},
    {"relaying not permitted", BounceReason::relaying_denied},
    {"not permitted to relay", BounceReason::relaying_denied},
    {"unable to relay", BounceReason::relaying_denied},
    {"we do not relay", BounceReason::relaying_denied},
    {"not allowed to relay", BounceReason::relaying_denied},
    {"relaying to", BounceReason::relaying_denied},
    {"account has been disabled", BounceReason::mailbox_disabled},
    {"account is disabled", BounceReason::mailbox_disabled},
    {"account disabled", BounceReason::mailbox_disabled},
    {"mailbox disabled", BounceReason::mailbox_disabled},
    {"mailbox is disabled", BounceReason::mailbox_disabled},
    {"account suspended", BounceReason::mailbox_disabled},
    {"been suspended", BounceReason::mailbox_disabled},
    {"is suspended", BounceReason::mailbox_disabled},
    {"mailbox is inactive", BounceReason::mailbox_disabled},
    {"account is inactive", BounceReason::mailbox_disabled},
    {"inactive account", BounceReason::mailbox_disabled},
    {"account expired", BounceReason::mailbox_disabled},
    {"deactivated", BounceReason::mailbox_disabled},
    {"mailbox is frozen", BounceReason::mailbox_disabled},
    {"user unknown", BounceReason::no_such_user},
    {"unknown user", BounceReason::no_such_user},
    {"no such user", BounceReason::no_such_user},
    {"user not found", BounceReason::no_such_user},
    {"user does not exist", BounceReason::no_such_user},
    {"user doesn't exist", BounceReason::no_such_user},
    {"unknown recipient", BounceReason::no_such_user},
    {"recipient unknown", BounceReason::no_such_user},
    {"no such recipient", BounceReason::no_such_user},
    {"recipient not found", BounceReason::no_such_user},
    {"recipient does not exist", BounceReason::no_such_user},
    {"invalid recipient", BounceReason::no_such_user},
    {"unknown local part", BounceReason::no_such_user},
    {"unknown or illegal alias", BounceReason::no_such_user},
    {"addressee unknown", BounceReason::no_such_user},
    {"address unknown", BounceReason::no_such_user},
    {"unknown address", BounceReason::no_such_user},
    {"mailbox not found", BounceReason::no_such_user},
    {"no such mailbox", BounceReason::no_such_user},
    {"no mailbox", BounceReason::no_such_user},
    {"mailbox does not exist", BounceReason::no_such_user},
    {"mailbox unavailable", BounceReason::no_such_user},
    {"recipientnotfound", BounceReason::no_such_user},
    {"name is not recognized", BounceReason::no_such_user},
    {"address couldn't be found", BounceReason::no_such_user},
    {"user not exist", BounceReason::no_such_user},
    {"user doesn't have", BounceReason::no_such_user},
    {"invalid mailbox", BounceReason::no_such_user},
    {"bad destination mailbox", BounceReason::no_such_user},
    {"not a valid mailbox", BounceReason::no_such_user},
    {"account does not exist", BounceReason::no_such_user},
    {"account that you tried to reach does not exist", BounceReason::no_such_user},
    {"no account by that name", BounceReason::no_such_user},
    {"no valid recipients", BounceReason::no_such_user},
    {"not our customer", BounceReason::no_such_user},
    {"no longer valid", BounceReason::no_such_user},
    {"unrouteable address", BounceReason::host_not_found},
    {"host not found", BounceReason::host_not_found},
    {"host unknown", BounceReason::host_not_found},
    {"unknown host", BounceReason::host_not_found},
    {"domain not found", BounceReason::host_not_found},
    {"no such domain", BounceReason::host_not_found},
    {"unknown domain", BounceReason::host_not_found},
    {"domain does not exist", BounceReason::host_not_found},
    {"name service error", BounceReason::host_not_found},
    {"host or domain name not found", BounceReason::host_not_found},
    {"nxdomain", BounceReason::host_not_found},
    {"domain is not reachable", BounceReason::host_not_found},
    {"no mx record", BounceReason::host_not_found},
    {"dns error", BounceReason::host_not_found},
    {"does not accept mail", BounceReason::no_mail_accepted},
    {"accepts no mail", BounceReason::no_mail_accepted},
    {"null mx", BounceReason::no_mail_accepted},
    {"indicated no smtp service", BounceReason::no_mail_accepted},
    {"reverse dns", BounceReason::require_ptr},
    {"ptr record", BounceReason::require_ptr},
    {"no ptr", BounceReason::require_ptr},
    {"cannot find your hostname", BounceReason::require_ptr},
    {"cannot resolve your address", BounceReason::require_ptr},
    {"reverse lookup", BounceReason::require_ptr},
    {"must issue a starttls", BounceReason::tls_required},
    {"tls required", BounceReason::tls_required},
    {"encryption required", BounceReason::tls_required},
    {"starttls", BounceReason::tls_required},
    {"virus", BounceReason::virus},
    {"malware", BounceReason::virus},
    {"reputation", BounceReason::bad_reputation},
    {"not listed in", BounceReason::no_such_user},
    {"find a mail exchanger", BounceReason::host_not_found},
    {"spamhaus", BounceReason::blocked},
    {"smtp server of your isp", BounceReason::blocked},
    {"blocklist", BounceReason::blocked},
    {"blacklist", BounceReason::blocked},
    {"block list", BounceReason::blocked},
    {"black list", BounceReason::blocked},
    {"dnsbl", BounceReason::blocked},
    {"rbl", BounceReason::blocked},
    {"listed in", BounceReason::blocked},
    {"client host rejected", BounceReason::blocked},
    {"your ip", BounceReason::blocked},
    {"spam", BounceReason::spam},
    {"junk mail", BounceReason::spam},
    {"unsolicited", BounceReason::spam},
    {"spf", BounceReason::authentication},
    {"dkim", BounceReason::authentication},
    {"dmarc", BounceReason::authentication},
    {"not authenticated", BounceReason::authentication},
    {"unauthenticated", BounceReason::authentication},
    {"sender address rejected", BounceReason::sender_rejected},
    {"sender was rejected", BounceReason::sender_rejected},
    {"sender rejected", BounceReason::sender_rejected},
    {"domain of sender address", BounceReason::sender_rejected},
    {"sender verify failed", BounceReason::sender_rejected},
    {"invalid sender", BounceReason::sender_rejected},
    {"message too large", BounceReason::message_too_large},
    {"message is too large", BounceReason::message_too_large},
    {"message too big", BounceReason::message_too_large},
    {"message size exceeds", BounceReason::message_too_large},
    {"message file too big", BounceReason::message_too_large},
    {"size limit", BounceReason::message_too_large},
    {"too many connections", BounceReason::rate_limited},
    {"too many messages", BounceReason::rate_limited},
    {"too many recipients", BounceReason::rate_limited},
    {"rate limit", BounceReason::rate_limited},
    {"throttl", BounceReason::rate_limited},
    {"try again later", BounceReason::rate_limited},
    {"connection refused", BounceReason::network_error},
    {"connection reset", BounceReason::network_error},
    {"network is unreachable", BounceReason::network_error},
    {"no route to host", BounceReason::network_error},
    {"lost connection", BounceReason::network_error},
    {"mail loop", BounceReason::network_error},
    {"routing loop", BounceReason::network_error},
    {"loop detected", BounceReason::network_error},
    {"too many hops", BounceReason::network_error},
    {"host not reachable", BounceReason::network_error},
    {"retry timeout exceeded", BounceReason::expired},
    {"delivery time expired", BounceReason::expired},
    {"message expired", BounceReason::expired},
    {"too long in queue", BounceReason::expired},
    {"in the queue too long", BounceReason::expired},
    {"did not accept our requests to connect", BounceReason::expired},
    {"could not be delivered for", BounceReason::expired},
    {"expired", BounceReason::expired},
    {"has been delayed", BounceReason::expired},
    {"will be retried", BounceReason::expired},
    {"timed out", BounceReason::expired},
    {"timeout", BounceReason::expired},
    {"giving up", BounceReason::expired},
    {"syntax error", BounceReason::syntax_error},
    {"command unrecognized", BounceReason::syntax_error},
    {"bad sequence of commands", BounceReason::syntax_error},
    {"line too long", BounceReason::syntax_error},
    {"not implemented", BounceReason::syntax_error},
    {"rfc 5322", BounceReason::not_rfc_compliant},
    {"rfc5322", BounceReason::not_rfc_compliant},
    {"rfc 2822", BounceReason::not_rfc_compliant},
    {"rfc2822", BounceReason::not_rfc_compliant},
    {"not compliant", BounceReason::not_rfc_compliant},
    {"system error", BounceReason::system_error},
    {"internal error", BounceReason::system_error},
    {"local error", BounceReason::system_error},
    {"configuration error", BounceReason::system_error},
    {"service currently unavailable", BounceReason::system_error},
    {"transaction failed", BounceReason::system_error},
    {"user reject", BounceReason::filtered},
    {"rejected by recipient", BounceReason::filtered},
    {"refused by recipient", BounceReason::filtered},
    {"filtered", BounceReason::filtered},
    {"does not exist", BounceReason::no_such_user},
    {"address rejected", BounceReason::no_such_user},
    {"policy", BounceReason::policy},
    {"not authorized", BounceReason::policy},
    {"prohibited", BounceReason::policy},
    {"not allowed", BounceReason::policy},
    {"blocked", BounceReason::blocked},
    {"access denied", BounceReason::blocked},
});

// For each first octet, the table positions of the phrases that start with it, in table order.
using PhraseIndex = std::array<std::vector<std::uint16_t>, 256>;

const PhraseIndex& phrase_index() {
    static const PhraseIndex index = [] {
        PhraseIndex built;
        for (std::size_t position = 0; position < phrases.size(); ++position) {
            built[static_cast<unsigned char>(phrases[position].text.front())].push_back(
                static_cast<std::uint16_t>(position));
        }
        return built;
    }();
    return index;
}

// RFC 3463 codes whose subject and detail name the reason on their own. Codes that many servers
// use for anything (X.0.0, X.7.0, X.7.1, X.5.0...) are absent: the text decides for them.
struct StatusReason {
    std::string_view subject_detail;  // "1.1" for X.1.1
    BounceReason reason;
};

constexpr auto specific_statuses = std::to_array<StatusReason>({
    {"1.1", BounceReason::no_such_user},      {"1.2", BounceReason::host_not_found},
    {"1.3", BounceReason::no_such_user},      {"1.4", BounceReason::no_such_user},
    {"1.6", BounceReason::has_moved},         {"1.7", BounceReason::sender_rejected},
    {"1.8", BounceReason::sender_rejected},   {"2.2", BounceReason::mailbox_full},
    {"2.3", BounceReason::exceeds_limit},     {"3.1", BounceReason::system_full},
    {"3.4", BounceReason::message_too_large}, {"4.6", BounceReason::network_error},
    {"4.7", BounceReason::expired},           {"5.3", BounceReason::rate_limited},
    {"7.8", BounceReason::authentication},    {"7.10", BounceReason::tls_required},
    {"7.11", BounceReason::tls_required},     {"7.13", BounceReason::mailbox_disabled},
    {"7.20", BounceReason::authentication},   {"7.21", BounceReason::authentication},
    {"7.22", BounceReason::authentication},   {"7.23", BounceReason::authentication},
    {"7.24", BounceReason::authentication},   {"7.25", BounceReason::require_ptr},
    {"7.26", BounceReason::authentication},   {"7.27", BounceReason::sender_rejected},
});

// Codes that servers often use for something else than RFC 3463 says ("550 5.2.1 User unknown",
// Microsoft's "5.1.10 RecipientNotFound"): the phrases decide first, these only when none spoke.
constexpr auto weak_statuses = std::to_array<StatusReason>({
    {"1.0", BounceReason::no_such_user},
    {"1.10", BounceReason::no_mail_accepted},
    {"2.1", BounceReason::mailbox_disabled},
    {"4.4", BounceReason::network_error},
});

// The broad subject of a code when neither a specific code nor a phrase spoke.
BounceReason reason_from_subject(char subject) {
    switch (subject) {
        case '3':
            return BounceReason::system_error;
        case '4':
            return BounceReason::network_error;
        case '5':
            return BounceReason::syntax_error;
        case '6':
            return BounceReason::content_rejected;
        case '7':
            return BounceReason::policy;
        default:
            return BounceReason::unknown;
    }
}

// "X.Y.Z" to "Y.Z", or "" when `status` is no enhanced code.
std::string_view subject_detail_of(std::string_view status) {
    if (status.size() < 5 || status[1] != '.') {
        return {};
    }
    return status.substr(2);
}

BounceReason reason_from_status(std::string_view status, std::span<const StatusReason> table) {
    std::string_view subject_detail = subject_detail_of(status);
    for (const StatusReason& entry : table) {
        if (entry.subject_detail == subject_detail) {
            return entry.reason;
        }
    }
    return BounceReason::unknown;
}

BounceReason reason_from_reply_code(std::string_view reply_code) {
    if (reply_code == "552" || reply_code == "452") {
        return BounceReason::mailbox_full;
    }
    if (reply_code == "421") {
        return BounceReason::rate_limited;
    }
    if (reply_code == "551") {
        return BounceReason::has_moved;
    }
    return BounceReason::unknown;
}

bool is_digit(char octet) {
    return octet >= '0' && octet <= '9';
}

bool is_alphanumeric(char octet) {
    return is_digit(octet) || (octet >= 'a' && octet <= 'z') || (octet >= 'A' && octet <= 'Z');
}

// Length of an enhanced status code "C.S.D" (class 2, 4 or 5, up to three digits each for subject
// and detail) starting at `position`, or 0.
std::size_t status_length_at(std::string_view text, std::size_t position) {
    if (position > 0 && (is_alphanumeric(text[position - 1]) || text[position - 1] == '.')) {
        return 0;
    }
    char status_class = text[position];
    if (status_class != '2' && status_class != '4' && status_class != '5') {
        return 0;
    }
    std::size_t index = position + 1;
    for (int group = 0; group < 2; ++group) {
        if (index >= text.size() || text[index] != '.') {
            return 0;
        }
        ++index;
        std::size_t digits = 0;
        while (index < text.size() && is_digit(text[index]) && digits < 4) {
            ++index;
            ++digits;
        }
        if (digits == 0 || digits > 3) {
            return 0;
        }
    }
    // "5.1.1." ends a sentence; "5.1.1.2" is a version or an address.
    if (index < text.size() &&
        (is_alphanumeric(text[index]) ||
         (text[index] == '.' && index + 1 < text.size() && is_digit(text[index + 1])))) {
        return 0;
    }
    return index - position;
}

// Whether a failure reply code (4xx, 5xx) stands at `position`, on its own.
bool is_reply_code_at(std::string_view text, std::size_t position) {
    if (position + 3 > text.size() || (text[position] != '4' && text[position] != '5') ||
        !is_digit(text[position + 1]) || !is_digit(text[position + 2])) {
        return false;
    }
    if (position > 0) {
        char before = text[position - 1];
        if (is_alphanumeric(before) || before == '.' || before == '-' || before == '+' ||
            before == ',' || before == '/' || before == '=') {
            return false;
        }
    }
    if (position + 3 == text.size()) {
        return true;
    }
    char after = text[position + 3];
    return after == ' ' || after == '-' || after == '\r' || after == '\n' || after == ')' ||
           after == '\t' || after == ']';
}

}  // namespace

bool rejected_after_data(std::string_view text) {
    // A transcript's ">>> DATA" is no sign: Sendmail writes it after a refused RCPT TO too.
    constexpr auto markers = std::to_array<std::string_view>({
        "end of data",
        "after data",
        "reply to data",
    });
    std::string_view searched = text.substr(0, text_bytes_max);
    for (std::string_view marker : markers) {
        if (find_ignoring_case(searched, marker) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

std::string_view class_name(BounceClass bounce_class) {
    switch (bounce_class) {
        case BounceClass::hard:
            return "hard";
        case BounceClass::soft:
            return "soft";
        case BounceClass::complaint:
            return "complaint";
        case BounceClass::auto_reply:
            return "auto_reply";
        case BounceClass::unknown:
            return "unknown";
    }
    return "unknown";
}

std::string_view reason_name(BounceReason reason) {
    static constexpr auto names = std::to_array<std::string_view>({
        "unknown",
        "no_such_user",
        "mailbox_full",
        "mailbox_disabled",
        "has_moved",
        "host_not_found",
        "no_mail_accepted",
        "relaying_denied",
        "blocked",
        "bad_reputation",
        "require_ptr",
        "authentication",
        "tls_required",
        "policy",
        "filtered",
        "sender_rejected",
        "spam",
        "virus",
        "content_rejected",
        "not_rfc_compliant",
        "message_too_large",
        "exceeds_limit",
        "rate_limited",
        "expired",
        "network_error",
        "system_error",
        "system_full",
        "syntax_error",
        "complaint",
        "auto_reply",
        "delivered",
    });
    static_assert(names.size() == static_cast<std::size_t>(BounceReason::delivered) + 1);
    return names[static_cast<std::size_t>(reason)];
}

BounceReason reason_from_phrases(std::string_view text) {
    // Lower case, and line breaks and runs of whitespace as one space, so that a phrase folded
    // across lines ("Operation timed\n out") still matches.
    std::string lower;
    lower.reserve(std::min(text.size(), text_bytes_max));
    for (char octet : text.substr(0, text_bytes_max)) {
        bool blank = octet == ' ' || octet == '\t' || octet == '\r' || octet == '\n';
        if (blank && (lower.empty() || lower.back() == ' ')) {
            continue;
        }
        lower.push_back(
            blank ? ' ' : (octet >= 'A' && octet <= 'Z' ? static_cast<char>(octet + 32) : octet));
    }
    // One pass over the text, trying at each octet only the phrases that start with it; the
    // phrase earliest in the table wins, as if each were searched in turn.
    const PhraseIndex& index = phrase_index();
    std::size_t best = phrases.size();
    std::string_view folded = lower;
    for (std::size_t position = 0; position < folded.size() && best > 0; ++position) {
        for (std::uint16_t candidate : index[static_cast<unsigned char>(folded[position])]) {
            if (candidate >= best) {
                break;  // the lists are in table order
            }
            if (folded.substr(position).starts_with(phrases[candidate].text)) {
                best = candidate;
                break;
            }
        }
    }
    return best < phrases.size() ? phrases[best].reason : BounceReason::unknown;
}

Classification classify(std::string_view status, std::string_view reply_code,
                        std::string_view diagnostic, std::string_view action) {
    Classification result;
    if (equal_ignoring_case(action, "delivered") || equal_ignoring_case(action, "relayed") ||
        equal_ignoring_case(action, "expanded")) {
        result.reason = BounceReason::delivered;
        return result;
    }
    result.reason = reason_from_status(status, specific_statuses);
    if (result.reason == BounceReason::unknown) {
        result.reason = reason_from_phrases(diagnostic);
    }
    if (result.reason == BounceReason::unknown) {
        result.reason = reason_from_status(status, weak_statuses);
    }
    if (result.reason == BounceReason::unknown && !status.empty()) {
        result.reason = reason_from_subject(status.size() > 2 ? status[2] : ' ');
    }
    if (result.reason == BounceReason::unknown) {
        result.reason = reason_from_reply_code(reply_code);
    }
    if (equal_ignoring_case(action, "delayed") && result.reason == BounceReason::unknown) {
        result.reason = BounceReason::expired;
    }
    char status_class = !status.empty() ? status[0] : (!reply_code.empty() ? reply_code[0] : ' ');
    if (result.reason == BounceReason::no_such_user && rejected_after_data(diagnostic)) {
        // The address passed RCPT TO: whatever refused the content is a filter, not a missing
        // mailbox.
        result.reason = BounceReason::filtered;
    }
    if (result.reason == BounceReason::host_not_found && status_class == '4') {
        result.reason = BounceReason::network_error;  // a lookup that may work next time
    }
    switch (result.reason) {
        case BounceReason::no_such_user:
        case BounceReason::host_not_found:
        case BounceReason::has_moved:
        case BounceReason::no_mail_accepted:
            // A 4xx "user unknown" is a server that is not sure yet: soft.
            result.bounce_class = status_class == '4' ? BounceClass::soft : BounceClass::hard;
            break;
        case BounceReason::unknown:
            // A failure nobody can explain is counted soft: repeated soft bounces turn hard
            // upstream, so an unknown reason alone never stop-lists an address.
            result.bounce_class = status_class == '4' || status_class == '5' ? BounceClass::soft
                                                                             : BounceClass::unknown;
            break;
        default:
            result.bounce_class = BounceClass::soft;
            break;
    }
    return result;
}

std::string find_enhanced_status(std::string_view text) {
    std::string_view success;
    for (std::size_t position = 0; position + 5 <= text.size(); ++position) {
        std::size_t length = status_length_at(text, position);
        if (length == 0) {
            continue;
        }
        if (text[position] != '2') {
            return std::string(text.substr(position, length));
        }
        if (success.empty()) {
            success = text.substr(position, length);
        }
        position += length - 1;
    }
    return std::string(success);
}

std::string find_reply_code(std::string_view text) {
    // "550 5.1.1" and "550-5.1.1": the code right before an enhanced status is the reply.
    std::string first;
    for (std::size_t position = 0; position + 3 <= text.size(); ++position) {
        if (!is_reply_code_at(text, position)) {
            continue;
        }
        std::size_t after = position + 4;
        if (after < text.size() && status_length_at(text, after) > 0 &&
            text[after] == text[position]) {
            return std::string(text.substr(position, 3));
        }
        if (first.empty()) {
            first = std::string(text.substr(position, 3));
        }
    }
    return first;
}

}  // namespace relay::bounce
