// outcome_test.cc -- decide_outcomes: which recipient a report stop-lists or counts, and that
// nothing the report says alone is believed (the token's fingerprint or the indexed envelope
// must vouch for the address).
#include "relay/bounce/outcome.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace relay::bounce {
namespace {

const std::string key(32, 'k');

VerpToken token_for(std::string_view recipient, std::uint32_t index = 0) {
    VerpMessage message;
    message.queue_id = 0x0123456789abcdefULL;
    message.resource = "acme/main";
    message.recipient_index = index;
    message.recipient = recipient;
    auto address = verp_address(key, message, "bounces.example.net");
    EXPECT_TRUE(address);
    std::array<std::string_view, 1> keys{key};
    auto token = decode_verp(keys, address.value());
    EXPECT_TRUE(token);
    return token.value();
}

std::string dsn(std::string_view recipient, std::string_view status, std::string_view action,
                std::string_view diagnostic) {
    return "From: MAILER-DAEMON@mx.example.org\r\n"
           "Subject: Undelivered Mail Returned to Sender\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
           "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
           "Reporting-MTA: dns; mx.example.org\r\n\r\n"
           "Final-Recipient: rfc822; " +
           std::string(recipient) + "\r\nAction: " + std::string(action) +
           "\r\nStatus: " + std::string(status) + "\r\nDiagnostic-Code: smtp; " +
           std::string(diagnostic) + "\r\n\r\n--B--\r\n";
}

std::string arf(std::string_view original_rcpt_to, std::string_view feedback_type = "abuse") {
    std::string rcpt = original_rcpt_to.empty()
                           ? std::string()
                           : "Original-Rcpt-To: " + std::string(original_rcpt_to) + "\r\n";
    return "From: feedback@isp.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n"
           "--F\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
           "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
           "Feedback-Type: " +
           std::string(feedback_type) + "\r\nUser-Agent: isp/1.0\r\nVersion: 1\r\n" + rcpt +
           "\r\n--F\r\nContent-Type: text/rfc822-headers\r\n\r\n"
           "Message-ID: <m1@customer.example>\r\nFrom: ann@customer.example\r\n"
           "To: undisclosed-recipients:;\r\nSubject: offer\r\n\r\n--F--\r\n";
}

TEST(BounceOutcome, HardDsnToTheTokensRecipientIsAHardBounce) {
    Report report =
        parse_report(dsn("gone@example.com", "5.1.1", "failed", "550 5.1.1 no such user"));
    auto outcomes = decide_outcomes(report, token_for("gone@example.com"), {});
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].recipient, "gone@example.com");
    EXPECT_EQ(outcomes[0].kind, OutcomeKind::hard_bounce);
    EXPECT_EQ(outcomes[0].reason, BounceReason::no_such_user);
    EXPECT_EQ(outcomes[0].status, "5.1.1");
}

TEST(BounceOutcome, TheFingerprintIgnoresCaseAndAnotherAddressIsNotBelieved) {
    Report report = parse_report(dsn("Gone@Example.COM", "5.1.1", "failed", "550 user unknown"));
    EXPECT_EQ(decide_outcomes(report, token_for("gone@example.com"), {}).size(), 1u);
    // The report names someone else than the token: without the index nothing is decided.
    Report other = parse_report(dsn("victim@example.com", "5.1.1", "failed", "550 user unknown"));
    EXPECT_TRUE(decide_outcomes(other, token_for("gone@example.com"), {}).empty());
    // With the index, the token's recipient is found there (the report named a forwarding
    // address) and takes the report's class.
    std::vector<std::string> sent = {"a@example.com", "gone@example.com"};
    auto outcomes = decide_outcomes(other, token_for("gone@example.com", 1), sent);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].recipient, "gone@example.com");
    EXPECT_EQ(outcomes[0].kind, OutcomeKind::hard_bounce);
}

TEST(BounceOutcome, SoftFailuresAndDelaysAreSoftAndDeliveriesNothing) {
    Report full =
        parse_report(dsn("full@example.com", "4.2.2", "delayed", "452 4.2.2 Mailbox full"));
    auto outcomes = decide_outcomes(full, token_for("full@example.com"), {});
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].kind, OutcomeKind::soft_bounce);
    EXPECT_EQ(outcomes[0].reason, BounceReason::mailbox_full);
    // A permanent refusal of the sending host is soft too: the address may be fine.
    Report blocked = parse_report(
        dsn("ok@example.com", "5.7.1", "failed", "554 5.7.1 blocked using zen.spamhaus.org"));
    outcomes = decide_outcomes(blocked, token_for("ok@example.com"), {});
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].kind, OutcomeKind::soft_bounce);
    Report delivered = parse_report(dsn("ok@example.com", "2.0.0", "delivered", "250 ok"));
    EXPECT_TRUE(decide_outcomes(delivered, token_for("ok@example.com"), {}).empty());
}

TEST(BounceOutcome, AComplaintWithoutTokenNeedsTheIndexedEnvelope) {
    Report report = parse_report(arf("Bob@Example.com"));
    ASSERT_EQ(report.kind, ReportKind::feedback);
    // Nobody vouches for the address: nothing.
    EXPECT_TRUE(decide_outcomes(report, std::nullopt, {}).empty());
    std::vector<std::string> sent = {"ann@example.com", "bob@example.com"};
    auto outcomes = decide_outcomes(report, std::nullopt, sent);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].recipient, "bob@example.com");  // as the envelope wrote it
    EXPECT_EQ(outcomes[0].kind, OutcomeKind::complaint);
    EXPECT_EQ(outcomes[0].reason, BounceReason::complaint);
}

TEST(BounceOutcome, ARedactedComplaintStandsForTheOnlyRecipient) {
    Report report = parse_report(arf(""));
    std::vector<std::string> one = {"solo@example.com"};
    auto outcomes = decide_outcomes(report, std::nullopt, one);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].recipient, "solo@example.com");
    // With two recipients nobody can say which one complained.
    std::vector<std::string> two = {"a@example.com", "b@example.com"};
    EXPECT_TRUE(decide_outcomes(report, std::nullopt, two).empty());
    // A complaint with a token: the token's recipient, from the index.
    outcomes = decide_outcomes(report, token_for("b@example.com", 1), two);
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].recipient, "b@example.com");
    EXPECT_EQ(outcomes[0].kind, OutcomeKind::complaint);
}

TEST(BounceOutcome, NotSpamAutoRepliesAndGarbageGiveNothing) {
    std::vector<std::string> sent = {"bob@example.com"};
    EXPECT_TRUE(
        decide_outcomes(parse_report(arf("bob@example.com", "not-spam")), std::nullopt, sent)
            .empty());
    Report reply = parse_report(
        "From: bob@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Out of Office\r\n\r\n"
        "I am away.\r\n");
    EXPECT_EQ(reply.kind, ReportKind::auto_reply);
    EXPECT_TRUE(decide_outcomes(reply, token_for("bob@example.com"), sent).empty());
    Report garbage = parse_report("\x01\x02 not mail at all");
    EXPECT_TRUE(decide_outcomes(garbage, token_for("bob@example.com"), sent).empty());
}

}  // namespace
}  // namespace relay::bounce
