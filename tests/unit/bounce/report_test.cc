// report_test.cc -- parse_report on hand-written reports: what each kind yields, and that hostile
// input (garbage, truncated MIME, deep nesting, huge counts) gives a bounded report.
#include "relay/bounce/report.h"

#include <gtest/gtest.h>

#include <string>

namespace relay::bounce {
namespace {

// Test texts are written with LF; CRLF versions come from this.
std::string with_crlf(std::string_view text) {
    std::string crlf;
    for (char octet : text) {
        if (octet == '\n') {
            crlf.push_back('\r');
        }
        crlf.push_back(octet);
    }
    return crlf;
}

constexpr std::string_view multi_recipient_dsn = R"(Return-Path: <>
Delivered-To: bounces+AbC123.xyz@bounce.example.net
From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: bounces+AbC123.xyz@bounce.example.net
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="B1/mx.example.org"

--B1/mx.example.org
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B1/mx.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Arrival-Date: Tue,  1 Dec 2026 10:00:00 +0000

Final-Recipient: rfc822; gone@example.com
Original-Recipient: rfc822;Gone@Example.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx1.example.com
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address
    rejected: User unknown in virtual mailbox table

Final-Recipient: rfc822; full@example.com
Action: delayed
Status: 4.2.2
Remote-MTA: dns; mx1.example.com
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

Final-Recipient: rfc822; blocked@example.com
Action: failed
Status: 5.7.1
Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked
    using zen.spamhaus.org

--B1/mx.example.org
Content-Description: Undelivered Message
Content-Type: message/rfc822

Message-ID: <original.1@relay.example.net>
From: someone@customer.example
Subject: Hello

Body
--B1/mx.example.org--
)";

TEST(BounceReport, MultiRecipientDsnGivesOneRecipientEach) {
    for (const std::string& message :
         {std::string(multi_recipient_dsn), with_crlf(multi_recipient_dsn)}) {
        Report report = parse_report(message);
        EXPECT_EQ(report.kind, ReportKind::delivery_status);
        ASSERT_EQ(report.recipients.size(), 3U);

        const FailedRecipient& gone = report.recipients[0];
        EXPECT_EQ(gone.address, "gone@example.com");
        EXPECT_EQ(gone.original_address, "Gone@Example.com");
        EXPECT_EQ(gone.action, "failed");
        EXPECT_EQ(gone.status, "5.1.1");
        EXPECT_EQ(gone.reply_code, "550");
        EXPECT_EQ(gone.remote_mta, "mx1.example.com");
        EXPECT_NE(gone.diagnostic.find("User unknown in virtual mailbox table"), std::string::npos);
        EXPECT_EQ(gone.classification.bounce_class, BounceClass::hard);
        EXPECT_EQ(gone.classification.reason, BounceReason::no_such_user);

        const FailedRecipient& full = report.recipients[1];
        EXPECT_EQ(full.address, "full@example.com");
        EXPECT_EQ(full.action, "delayed");
        EXPECT_EQ(full.status, "4.2.2");
        EXPECT_EQ(full.reply_code, "452");
        EXPECT_EQ(full.classification.bounce_class, BounceClass::soft);
        EXPECT_EQ(full.classification.reason, BounceReason::mailbox_full);

        const FailedRecipient& blocked = report.recipients[2];
        EXPECT_EQ(blocked.status, "5.7.1");
        EXPECT_EQ(blocked.classification.bounce_class, BounceClass::soft);
        EXPECT_EQ(blocked.classification.reason, BounceReason::blocked);

        EXPECT_EQ(report.classification.bounce_class, BounceClass::hard);
        EXPECT_EQ(report.original_message_id, "<original.1@relay.example.net>");
        EXPECT_EQ(report.original_subject, "Hello");
        ASSERT_EQ(report.verp_tokens.size(), 1U);
        EXPECT_EQ(report.verp_tokens[0], "AbC123.xyz");
        EXPECT_FALSE(report.truncated);
    }
}

constexpr std::string_view headers_only_dsn = R"(From: postmaster@mx.example.org
To: <bounces+tok3n@bounce.example.net>
Subject: Delivery Status Notification (Failure)
Content-Type: multipart/report; report-type="delivery-status"; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain
Content-Transfer-Encoding: quoted-printable

Delivery to the following recipient failed perm=
anently: over@example.com
--inner
Content-Type: text/html

<p>Delivery failed</p>
--inner--
--outer
Content-Type: message/delivery-status
Content-Transfer-Encoding: base64

UmVwb3J0aW5nLU1UQTogZG5zOyBteC5leGFtcGxlLm9yZwoKRmluYWwtUmVjaXBpZW50OiByZmM4
MjI7IG92ZXJAZXhhbXBsZS5jb20KQWN0aW9uOiBmYWlsZWQKU3RhdHVzOiA1LjIuMgpEaWFnbm9z
dGljLUNvZGU6IHNtdHA7IDU1MiA1LjIuMiBRdW90YSBleGNlZWRlZAo=

--outer
Content-Type: text/rfc822-headers

Message-Id: <quoted.headers@relay.example.net>
From: a@customer.example
To: over@example.com
Subject: Invoice

--outer--
)";

TEST(BounceReport, DsnWithHeadersPartAndEncodedStatus) {
    Report report = parse_report(headers_only_dsn);
    EXPECT_EQ(report.kind, ReportKind::delivery_status);
    ASSERT_EQ(report.recipients.size(), 1U);
    const FailedRecipient& over = report.recipients[0];
    EXPECT_EQ(over.address, "over@example.com");
    EXPECT_EQ(over.status, "5.2.2");
    EXPECT_EQ(over.reply_code, "552");
    EXPECT_EQ(over.classification.bounce_class, BounceClass::soft);
    EXPECT_EQ(over.classification.reason, BounceReason::mailbox_full);
    EXPECT_EQ(report.original_message_id, "<quoted.headers@relay.example.net>");
    EXPECT_EQ(report.original_subject, "Invoice");
    ASSERT_EQ(report.verp_tokens.size(), 1U);
    EXPECT_EQ(report.verp_tokens[0], "tok3n");
}

constexpr std::string_view arf_report = R"(From: <staff@hotmail.example>
Date: Thu, 8 Mar 2005 17:40:36 EDT
Subject: FW: Earn money
To: <abuse@bounce.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces+q1w2e3@bounce.example.net>
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT
Reported-Domain: customer.example
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: text/rfc822-headers

From: <somespammer@customer.example>
Received: from mailserver.example.net (mailserver.example.net [192.0.2.1])
        by example.com with ESMTP id M63d4137594e46;
        Thu, 08 Mar 2005 14:00:00 -0400
To: <Undisclosed Recipients>, complainer@hotmail.example
Subject: Earn money
Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@customer.example>

--part1_13d.2e68ed54_boundary--
)";

TEST(BounceReport, ArfComplaintNamesTheOriginalThroughItsHeaders) {
    Report report = parse_report(arf_report);
    EXPECT_EQ(report.kind, ReportKind::feedback);
    EXPECT_EQ(report.classification.bounce_class, BounceClass::complaint);
    EXPECT_EQ(report.classification.reason, BounceReason::complaint);
    EXPECT_EQ(report.feedback.feedback_type, "abuse");
    EXPECT_EQ(report.feedback.user_agent, "SomeGenerator/1.0");
    EXPECT_EQ(report.feedback.original_mail_from, "bounces+q1w2e3@bounce.example.net");
    EXPECT_EQ(report.feedback.reported_domain, "customer.example");
    EXPECT_EQ(report.feedback.source_ip, "192.0.2.1");
    EXPECT_TRUE(report.feedback.original_rcpt_to.empty());
    ASSERT_EQ(report.recipients.size(), 1U);
    EXPECT_EQ(report.recipients[0].address, "complainer@hotmail.example");
    EXPECT_EQ(report.original_message_id, "<8787KJKJ3K4J3K4J3K4J3.mail@customer.example>");
    EXPECT_TRUE(report.verp_tokens.empty());
}

constexpr std::string_view qmail_bounce = R"(From: MAILER-DAEMON@mx.example.org
To: bounces+t0k@bounce.example.net
Subject: failure notice

Hi. This is the qmail-send program at mx.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@example.com>:
192.0.2.9 does not like recipient.
Remote host said: 550 5.1.1 <nobody@example.com>... User unknown
Giving up on 192.0.2.9.

<quota@example.com>:
192.0.2.9 said: 552 Mailbox full

--- Below this line is a copy of the message.

Return-Path: <bounces+t0k@bounce.example.net>
Message-ID: <qmail.original@relay.example.net>
To: nobody@example.com, quota@example.com
)";

TEST(BounceReport, PlainTextBounceGivesEachRecipientItsOwnReason) {
    Report report = parse_report(qmail_bounce);
    EXPECT_EQ(report.kind, ReportKind::plain_bounce);
    ASSERT_EQ(report.recipients.size(), 2U);
    EXPECT_EQ(report.recipients[0].address, "nobody@example.com");
    EXPECT_EQ(report.recipients[0].status, "5.1.1");
    EXPECT_EQ(report.recipients[0].reply_code, "550");
    EXPECT_EQ(report.recipients[0].classification.bounce_class, BounceClass::hard);
    EXPECT_EQ(report.recipients[0].classification.reason, BounceReason::no_such_user);
    EXPECT_EQ(report.recipients[1].address, "quota@example.com");
    EXPECT_EQ(report.recipients[1].reply_code, "552");
    EXPECT_EQ(report.recipients[1].classification.reason, BounceReason::mailbox_full);
    EXPECT_EQ(report.original_message_id, "<qmail.original@relay.example.net>");
    ASSERT_EQ(report.verp_tokens.size(), 1U);
    EXPECT_EQ(report.verp_tokens[0], "t0k");
}

TEST(BounceReport, ReportForwardedAsAnAttachmentIsRead) {
    std::string message =
        "From: helpdesk@customer.example\nTo: bounces+fwd1@bounce.example.net\n"
        "Subject: Fwd: returned mail\nContent-Type: multipart/mixed; boundary=m\n\n"
        "--m\nContent-Type: text/plain\n\nSee the attached report.\n"
        "--m\nContent-Type: message/rfc822\n\n" +
        std::string(multi_recipient_dsn) + "\n--m--\n";
    Report report = parse_report(message);
    EXPECT_EQ(report.kind, ReportKind::delivery_status);
    ASSERT_EQ(report.recipients.size(), 3U);
    EXPECT_EQ(report.recipients[0].address, "gone@example.com");
    // Where both messages were sent, the outer one first.
    ASSERT_EQ(report.verp_tokens.size(), 2U);
    EXPECT_EQ(report.verp_tokens[0], "fwd1");
    EXPECT_EQ(report.verp_tokens[1], "AbC123.xyz");
}

TEST(BounceReport, ReturnedMessageIsNotTakenForTheBounce) {
    // The message we sent talks about a failure and names addresses; the bounce around it names
    // no recipient. The returned message must not lend its addresses to the bounce.
    Report report = parse_report(
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undeliverable\n"
        "Content-Type: multipart/mixed; boundary=r\n\n--r\nContent-Type: text/plain\n\n"
        "Delivery failed.\n--r\nContent-Type: message/rfc822\n\n"
        "From: MAILER-DAEMON@other.example\nSubject: Undelivered\n\n"
        "<someone@example.com>: 550 5.1.1 User unknown\n--r--\n");
    EXPECT_EQ(report.kind, ReportKind::plain_bounce);
    EXPECT_TRUE(report.recipients.empty());
}

TEST(BounceReport, AutoReplyIsNotABounce) {
    Report report = parse_report(
        "From: Kim <kim@example.com>\nTo: bounces+x@bounce.example.net\n"
        "Subject: Out of Office: Hello\nAuto-Submitted: auto-replied\n\n"
        "I am away until Monday.\n");
    EXPECT_EQ(report.kind, ReportKind::auto_reply);
    EXPECT_EQ(report.classification.bounce_class, BounceClass::auto_reply);
    ASSERT_EQ(report.recipients.size(), 1U);
    EXPECT_EQ(report.recipients[0].address, "kim@example.com");
}

TEST(BounceReport, GarbageIsUnknown) {
    for (std::string_view garbage :
         {std::string_view(""), std::string_view("\n\n\n"), std::string_view("\0\0\xff\xfe", 4),
          std::string_view("Content-Type: multipart/report; boundary=\"\"\n\n--\n--\n"),
          std::string_view(":::\n: :\n\t\t\n"), std::string_view("hello world")}) {
        Report report = parse_report(garbage);
        EXPECT_EQ(report.kind, ReportKind::unknown);
        EXPECT_TRUE(report.recipients.empty());
        EXPECT_EQ(report.classification.bounce_class, BounceClass::unknown);
    }
}

TEST(BounceReport, TruncatedMimeStillYieldsWhatWasRead) {
    // Cut inside the delivery-status part: the first recipient's group is complete.
    std::string_view whole = multi_recipient_dsn;
    std::size_t cut = whole.find("Final-Recipient: rfc822; full@example.com");
    ASSERT_NE(cut, std::string_view::npos);
    Report report = parse_report(whole.substr(0, cut + 20));
    EXPECT_EQ(report.kind, ReportKind::delivery_status);
    ASSERT_GE(report.recipients.size(), 1U);
    EXPECT_EQ(report.recipients[0].address, "gone@example.com");
    EXPECT_EQ(report.recipients[0].status, "5.1.1");
    // Every prefix parses.
    for (std::size_t length = 0; length <= whole.size(); length += 7) {
        Report prefix = parse_report(whole.substr(0, length));
        EXPECT_LE(prefix.recipients.size(), 3U);
    }
}

// A delivery-status part below `depth` levels of multipart/mixed.
std::string nested_report(int depth) {
    std::string message;
    for (int level = 0; level < depth; ++level) {
        message += "Content-Type: multipart/mixed; boundary=b" + std::to_string(level) + "\n\n--b" +
                   std::to_string(level) + "\n";
    }
    message +=
        "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; "
        "deep@example.com\nAction: failed\nStatus: 5.1.1\n";
    return message;
}

TEST(BounceReport, DeepNestingStopsAtTheDepthLimit) {
    Report deep = parse_report(nested_report(100000));
    EXPECT_TRUE(deep.truncated);
    EXPECT_EQ(deep.kind, ReportKind::unknown);  // the report lies below the limit
    EXPECT_TRUE(deep.recipients.empty());

    ReportLimits limits;
    Report shallow = parse_report(nested_report(static_cast<int>(limits.depth_max)), limits);
    EXPECT_FALSE(shallow.truncated);
    EXPECT_EQ(shallow.kind, ReportKind::delivery_status);
    ASSERT_EQ(shallow.recipients.size(), 1U);
    EXPECT_EQ(shallow.recipients[0].address, "deep@example.com");
}

TEST(BounceReport, RecipientsAndDiagnosticsAreBounded) {
    std::string message =
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered\n"
        "Content-Type: multipart/report; boundary=b\n\n--b\n"
        "Content-Type: message/delivery-status\n\n";
    for (int index = 0; index < 1000; ++index) {
        message += "\nFinal-Recipient: rfc822; r" + std::to_string(index) +
                   "@example.com\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 " +
                   std::string(5000, 'x') + "\n";
    }
    ReportLimits limits;
    Report report = parse_report(message, limits);
    EXPECT_EQ(report.recipients.size(), limits.recipients_max);
    EXPECT_TRUE(report.truncated);
    for (const FailedRecipient& recipient : report.recipients) {
        EXPECT_LE(recipient.diagnostic.size(), limits.diagnostic_bytes_max);
    }
}

}  // namespace
}  // namespace relay::bounce
