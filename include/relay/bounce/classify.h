// classify.h -- what a delivery failure means for the recipient: hard (stop sending), soft (try
// again later), complaint, auto-reply or unknown, with a reason, from an enhanced status code
// (RFC 3463), an SMTP reply code (RFC 5321 §4.2) and the words of the diagnostic text.
//
// Untrusted bytes: the diagnostic text is what a remote server wrote. Pure, any thread; the work
// is linear in the text's length times the size of the phrase table (docs/bounces.md lists it).
//
// A hard bounce is a failure of the address itself (no such user, no such domain, the mailbox
// moved, a domain that accepts no mail) or a permanent failure whose reason is not known. A
// refusal of the sending host, its reputation or the message (blocked, spam, policy, size) is
// soft: the address may well be valid, and stop-listing it would punish the recipient for the
// sender's trouble.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace relay::bounce {

enum class BounceClass : std::uint8_t { hard, soft, complaint, auto_reply, unknown };

enum class BounceReason : std::uint8_t {
    unknown,            // nothing the classifier knows
    no_such_user,       // the mailbox does not exist (X.1.1)
    mailbox_full,       // over quota (X.2.2)
    mailbox_disabled,   // suspended, inactive, disabled (X.2.1)
    has_moved,          // the address moved (X.1.6)
    host_not_found,     // the domain or its MX does not resolve (X.1.2, X.4.4)
    no_mail_accepted,   // the domain accepts no mail (null MX, X.1.10)
    relaying_denied,    // the server does not relay for us
    blocked,            // the sending host or its IP is on a block list
    bad_reputation,     // the sending host's reputation is too low
    require_ptr,        // the sending host has no reverse DNS
    authentication,     // SPF, DKIM or DMARC failed (X.7.20-X.7.26)
    tls_required,       // the receiver wants TLS that was not there
    policy,             // a local policy refused the message
    filtered,           // the recipient's own filter refused it
    sender_rejected,    // the envelope sender was refused
    spam,               // the content was judged spam
    virus,              // the content carried malware
    content_rejected,   // attachments, headers or media the receiver refuses (X.6.x)
    not_rfc_compliant,  // the message broke RFC 5322 (missing or duplicate fields)
    message_too_large,  // over the system's size limit (X.3.4)
    exceeds_limit,      // over the mailbox's size limit (X.2.3)
    rate_limited,       // too many connections, messages or recipients
    expired,            // the sending MTA gave up after retrying (X.4.7)
    network_error,      // connection refused or lost, a routing loop
    system_error,       // the receiving system failed (X.3.x)
    system_full,        // the receiving system is out of storage (X.3.1)
    syntax_error,       // an SMTP protocol error (X.5.x)
    complaint,          // an ARF feedback report
    auto_reply,         // a vacation or out-of-office answer
    delivered,          // a DSN that reports success
};

// snake_case names for logs, statistics and stop-list reasons ("no_such_user").
std::string_view class_name(BounceClass bounce_class);
std::string_view reason_name(BounceReason reason);

struct Classification {
    BounceClass bounce_class = BounceClass::unknown;
    BounceReason reason = BounceReason::unknown;
};

// Classifies one failed recipient. `status` is an enhanced code ("5.1.1", may be empty),
// `reply_code` an SMTP code ("550", may be empty), `action` a DSN action ("failed", "delayed",
// may be empty). A specific status code decides first, then known phrases of the text, then the
// generic part of the status code and the reply code.
Classification classify(std::string_view status, std::string_view reply_code,
                        std::string_view diagnostic, std::string_view action);

// Whether the text says the refusal came after DATA (Postfix's "in reply to end of DATA command",
// Exim's "after end of data"): the address itself passed RCPT TO.
bool rejected_after_data(std::string_view text);

// The reason that known phrases of `text` name, or unknown.
BounceReason reason_from_phrases(std::string_view text);

// The first enhanced status code in free text ("... 550 5.1.1 ..." gives "5.1.1"), failures (4, 5)
// before successes (2); "" when there is none.
std::string find_enhanced_status(std::string_view text);

// The first SMTP reply code of a failure (4xx, 5xx) in free text, preferring one that stands
// before an enhanced status code; "" when there is none.
std::string find_reply_code(std::string_view text);

}  // namespace relay::bounce
