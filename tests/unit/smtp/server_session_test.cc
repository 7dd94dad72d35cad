// The SMTP server state machine driven without a kernel: replies, phases, pipelining across a
// pending commit, BDAT bookkeeping, limits and smuggling, binary input before EHLO, input sent
// after a refused DATA, STARTTLS (what is discarded, what is forgotten).
#include "relay/smtp/server_session.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace relay::smtp {
namespace {

class StringSink final : public message::Sink {
  public:
    void append(std::string_view bytes) override { stored.append(bytes); }
    std::string stored;
};

class Hooks final : public ServerHooks {
  public:
    message::Sink& open_message(const Transaction&) override {
        sink = StringSink{};
        ++opened;
        return sink;
    }
    void commit_message(const Transaction& transaction, const message::MessagePass&) override {
        committed.push_back(transaction);
        messages.push_back(sink.stored);
    }
    void abandon_message() override { ++abandoned; }
    std::optional<PolicyReply> check_recipient(const Transaction&,
                                               std::string_view recipient) override {
        if (recipient == "refused@example.net") {
            return PolicyReply{550, "5.7.1", "Recipient refused"};
        }
        return std::nullopt;
    }

    StringSink sink;
    std::vector<Transaction> committed;
    std::vector<std::string> messages;
    int opened = 0;
    int abandoned = 0;
};

class ServerSessionTest : public ::testing::Test {
  protected:
    ServerSessionTest() {
        settings.hostname = "relay.test";
        settings.recipients_per_message_max = 3;
        settings.errors_per_session_max = 4;
    }

    void start() {
        session.emplace(settings, hooks);
        session->start();
        take();
    }
    // Feeds `input` (optionally one byte at a time) and returns the replies written.
    std::string feed(std::string input, bool bytewise = false) {
        if (bytewise) {
            for (char& c : input) {
                session->receive(std::span<char>(&c, 1));
            }
        } else {
            session->receive(std::span<char>(input.data(), input.size()));
        }
        return take();
    }
    std::string take() {
        std::string out;
        out.swap(session->output());
        return out;
    }

    ServerSettings settings;
    Hooks hooks;
    std::optional<ServerSession> session;
};

TEST_F(ServerSessionTest, GreetingAndCapabilities) {
    session.emplace(settings, hooks);
    session->start();
    EXPECT_EQ(take(), "220 relay.test ESMTP relay\r\n");
    std::string ehlo = feed("EHLO client.example\r\n");
    EXPECT_EQ(ehlo,
              "250-relay.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
              "250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n");
    EXPECT_EQ(feed("HELO client.example\r\n"), "250 relay.test\r\n");
}

TEST_F(ServerSessionTest, SizeIsAdvertisedOnlyWithALimit) {
    settings.pass.message_bytes_max = 1000;
    start();
    EXPECT_NE(feed("EHLO c\r\n").find("250-SIZE 1000\r\n"), std::string::npos);
    EXPECT_EQ(feed("MAIL FROM:<a@example.com> SIZE=1001\r\n"),
              "552 5.3.4 Error: message size exceeds fixed limit\r\n");
}

TEST_F(ServerSessionTest, ReplyToTheDataWaitsForTheCommit) {
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(feed("RCPT TO:<b@example.net>\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(feed("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    // The data, then pipelined commands that must wait for the commit.
    EXPECT_EQ(feed("Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n"), "");
    ASSERT_EQ(hooks.committed.size(), 1u);
    EXPECT_EQ(hooks.messages[0], "Subject: x\r\n\r\n.dot\r\nbody\r\n");
    EXPECT_TRUE(session->committing());
    session->commit_done(std::string("0123456789ABCDEF"));
    EXPECT_EQ(take(),
              "250 2.0.0 Ok: queued as 0123456789ABCDEF\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
    EXPECT_TRUE(session->wants_close());
}

TEST_F(ServerSessionTest, FailedCommitSays451AndTheSessionGoesOn) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    feed("x\r\n.\r\n");
    session->commit_done(std::nullopt, "disk full");
    EXPECT_EQ(take(), "451 4.3.0 Error: local problem, message not queued (disk full)\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(ServerSessionTest, HeldInputIsBoundedAndAsksForAPause) {
    settings.pending_input_bytes_max = 4096;
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nx\r\n.\r\n");
    ASSERT_TRUE(session->committing());
    EXPECT_FALSE(session->wants_pause());
    feed(std::string(5000, 'N'));
    EXPECT_TRUE(session->wants_pause());
}

TEST_F(ServerSessionTest, SequenceErrors) {
    settings.errors_per_session_max = 10;
    start();
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("RCPT TO:<b@example.net>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    feed("MAIL FROM:<a@example.com>\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
    EXPECT_EQ(feed("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
}

TEST_F(ServerSessionTest, TooManyErrorsCloses) {
    start();
    feed("BOGUS\r\nBOGUS\r\nBOGUS\r\n");
    EXPECT_FALSE(session->wants_close());
    std::string last = feed("BOGUS\r\n");
    EXPECT_EQ(last,
              "500 5.5.2 Command unrecognized\r\n421 4.7.0 relay.test Error: too many errors\r\n");
    EXPECT_TRUE(session->wants_close());
    EXPECT_EQ(feed("NOOP\r\n"), "");  // nothing more is read
}

TEST_F(ServerSessionTest, OverlongLineIsRefusedAndTheSessionContinues) {
    start();
    std::string reply = feed("NOOP " + std::string(600, 'x') + "\r\nNOOP\r\n");
    EXPECT_EQ(reply, "500 5.5.2 Error: command line too long\r\n250 2.0.0 Ok\r\n");
    // The same split into single bytes.
    reply = feed("NOOP " + std::string(600, 'x') + "\r\nNOOP\r\n", true);
    EXPECT_EQ(reply, "500 5.5.2 Error: command line too long\r\n250 2.0.0 Ok\r\n");
}

TEST_F(ServerSessionTest, RecipientLimitAndPolicy) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\n");
    EXPECT_EQ(feed("RCPT TO:<refused@example.net>\r\n"), "550 5.7.1 Recipient refused\r\n");
    feed("RCPT TO:<1@example.net>\r\nRCPT TO:<2@example.net>\r\nRCPT TO:<3@example.net>\r\n");
    EXPECT_EQ(feed("RCPT TO:<4@example.net>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
}

TEST_F(ServerSessionTest, Utf8AddressesNeedSmtputf8) {
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("MAIL FROM:<jöran@example.com>\r\n"),
              "553 5.6.7 Error: a non-ASCII address requires SMTPUTF8\r\n");
    EXPECT_EQ(feed("MAIL FROM:<jöran@example.com> SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(feed("RCPT TO:<用户@例子.广告>\r\n"), "250 2.1.5 Ok\r\n");
}

TEST_F(ServerSessionTest, BdatChunksAndARefusedChunkStayInStep) {
    start();
    feed("EHLO c\r\n");
    // Without MAIL the chunk is still read (RFC 3030 §3), and the next command works.
    EXPECT_EQ(feed("BDAT 5\r\nHELLONOOP\r\n"),
              "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n");
    EXPECT_EQ(feed("BDAT 7\r\nA\r\n.\r\nB"), "250 2.0.0 Ok: 7 octets received\r\n");
    EXPECT_EQ(feed("BDAT 3 LAST\r\nC\r\n"), "");
    ASSERT_EQ(hooks.messages.size(), 1u);
    EXPECT_EQ(hooks.messages[0], "A\r\n.\r\nBC\r\n");  // no unstuffing, no end at "."
    session->commit_done(std::string("ID"));
    EXPECT_EQ(take(), "250 2.0.0 Ok: queued as ID\r\n");
    EXPECT_EQ(feed("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(ServerSessionTest, SmugglingSequencesDoNotEndTheData) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    std::string smuggled =
        "x\n.\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
        "y\r.\rz\n.\r\n";
    EXPECT_EQ(feed(smuggled), "");  // still in DATA: nothing was executed
    EXPECT_TRUE(session->in_data());
    EXPECT_EQ(feed(".\r\n"),
              "554 5.6.0 Error: bare CR or LF in message content (lines must end in CRLF)\r\n");
    EXPECT_TRUE(hooks.committed.empty());
    EXPECT_EQ(hooks.abandoned, 1);
}

TEST_F(ServerSessionTest, NulInTheDataIsRefusedAndTheSessionGoesOn) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    EXPECT_EQ(feed(std::string("x\r\n\0.\r\nMAIL FROM:<evil@example.com>\r\n.\r\n", 40)),
              "554 5.6.0 Error: NUL octet in message content (RFC 5322 text has none)\r\n");
    EXPECT_TRUE(hooks.committed.empty());
    EXPECT_EQ(hooks.abandoned, 1);
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(ServerSessionTest, LongLineReplyNamesTheLineAndTheLimit) {
    settings.pass.line_bytes_max = 10;
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    EXPECT_EQ(feed("Subject: x\r\n\r\n0123456789\r\n0123456789A\r\n.\r\n"),
              "554 5.6.0 Error: line 4 of the message is longer than 10 octets (RFC 5322 section "
              "2.1.1); encode that part with quoted-printable or base64\r\n");
    EXPECT_TRUE(hooks.committed.empty());
    // BDAT: the reply comes with the last chunk.
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n");
    EXPECT_EQ(feed("BDAT 12\r\n0123456789AB"), "250 2.0.0 Ok: 12 octets received\r\n");
    EXPECT_EQ(feed("BDAT 0 LAST\r\n").substr(0, 27), "554 5.6.0 Error: line 1 of ");
}

// --- Binary input before EHLO ----------------------------------------------------------------

const std::string kBinaryClose =
    "421 4.5.1 relay.test Error: binary input before EHLO (a TLS handshake on a plaintext port?); "
    "closing\r\n";

TEST_F(ServerSessionTest, TlsClientHelloOnThePlaintextPortClosesWithoutWaitingForALine) {
    // The first octets of a TLS 1.2/1.3 ClientHello: no LF anywhere.
    const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    start();
    EXPECT_EQ(feed(hello), kBinaryClose);
    EXPECT_TRUE(session->wants_close());
    EXPECT_EQ(feed("EHLO c\r\n"), "");  // nothing more is read
    // Garbage in the very first octet, on its own.
    start();
    EXPECT_EQ(feed(hello.substr(0, 1)), kBinaryClose);
    // Byte by byte: closed at the first binary octet, the rest is not read.
    start();
    EXPECT_EQ(feed(hello + "EHLO c\r\n", true), kBinaryClose);
}

TEST_F(ServerSessionTest, BinaryAfterAPartialOrCompleteCommandBeforeEhlo) {
    for (const std::string& input :
         {std::string("EHL") + "\x80", std::string("EHLO c\x7f"), std::string("HELO \xff\r\n"),
          std::string("NOOP\r\nMAIL FROM:<a\x01@example.com>"), std::string("\x00", 1)}) {
        start();
        const std::size_t cut = std::min<std::size_t>(3, input.size());
        std::string replies = feed(input.substr(0, cut));
        replies += feed(input.substr(cut));
        EXPECT_EQ(replies.substr(replies.find("421")), kBinaryClose) << input;
        EXPECT_TRUE(session->wants_close());
    }
    // A failed EHLO is not a greeting yet.
    start();
    EXPECT_EQ(feed("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    EXPECT_EQ(feed("\x16\x03"), kBinaryClose);
}

TEST_F(ServerSessionTest, TextControlsBeforeEhloAndAnythingAfterItAreCommands) {
    start();
    // HT, and CR inside a line, are not binary.
    EXPECT_EQ(feed("NO\rOP\r\n"), "500 5.5.2 Command unrecognized\r\n");
    EXPECT_EQ(feed("HELO\tclient.example\r\n"), "250 relay.test\r\n");
    // After a greeting: today's replies (SMTPUTF8 addresses carry 8-bit octets).
    EXPECT_EQ(feed(std::string("\x16\x03\x00\x01\r\n", 6)), "500 5.5.2 Command unrecognized\r\n");
    EXPECT_FALSE(session->wants_close());
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("MAIL FROM:<j\xc3\xb6ran@example.com> SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(feed("NOOP \xff\x16\x03\r\n"), "250 2.0.0 Ok\r\n");
    EXPECT_FALSE(session->wants_close());
}

// --- Input sent after a refused DATA -----------------------------------------------------------

const std::string kSmuggledBody =
    "From: <ceo@example.com>\r\n\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<b@example.net>\r\n"
    "DATA\r\nPay the invoice.\r\n.\r\nQUIT\r\n";
const std::string kDataPipelinedClose =
    "421 4.5.0 relay.test Error: message data sent before the reply to DATA; closing\r\n";

TEST_F(ServerSessionTest, MessageAfterARefusedDataInTheSameInputClosesTheSession) {
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<refused@example.net>\r\nDATA\r\n" +
                   kSmuggledBody),
              "250 2.1.0 Ok\r\n550 5.7.1 Recipient refused\r\n"
              "554 5.5.1 Error: no valid recipients\r\n" +
                  kDataPipelinedClose);
    EXPECT_TRUE(session->wants_close());
    EXPECT_EQ(hooks.opened, 0);
    EXPECT_TRUE(hooks.committed.empty());
    // The same with the DATA line split, and with DATA refused for want of MAIL.
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<refused@example.net>\r\nDA");
    EXPECT_EQ(feed("TA\r\n" + kSmuggledBody),
              "554 5.5.1 Error: no valid recipients\r\n" + kDataPipelinedClose);
    start();
    feed("EHLO c\r\nDATA\r");
    EXPECT_EQ(feed("\n" + kSmuggledBody),
              "503 5.5.1 Error: need MAIL command\r\n" + kDataPipelinedClose);
    EXPECT_TRUE(hooks.committed.empty());
}

TEST_F(ServerSessionTest, MessageAfterARefusedDataHeldDuringACommitClosesTheSession) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    EXPECT_EQ(feed("first\r\n.\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<refused@example.net>\r\n"
                   "DATA\r\n" +
                   kSmuggledBody),
              "");
    ASSERT_TRUE(session->committing());
    session->commit_done(std::string("ID"));
    EXPECT_EQ(take(),
              "250 2.0.0 Ok: queued as ID\r\n250 2.1.0 Ok\r\n550 5.7.1 Recipient refused\r\n"
              "554 5.5.1 Error: no valid recipients\r\n" +
                  kDataPipelinedClose);
    EXPECT_TRUE(session->wants_close());
    EXPECT_EQ(hooks.committed.size(), 1u);
    EXPECT_EQ(hooks.opened, 1);
}

TEST_F(ServerSessionTest, AClientThatWaitsForTheReplyToDataGoesOn) {
    start();
    feed("EHLO c\r\n");
    // DATA last in its group: refused, and the session stays open.
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<refused@example.net>\r\nDATA\r\n"),
              "250 2.1.0 Ok\r\n550 5.7.1 Recipient refused\r\n"
              "554 5.5.1 Error: no valid recipients\r\n");
    EXPECT_FALSE(session->wants_close());
    EXPECT_EQ(feed("RSET\r\n"), "250 2.0.0 Ok\r\n");
    // The same group held during a commit, DATA last in what was held.
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    feed("x\r\n.\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<refused@example.net>\r\nDATA\r\n");
    session->commit_done(std::string("ID"));
    EXPECT_EQ(take(),
              "250 2.0.0 Ok: queued as ID\r\n250 2.1.0 Ok\r\n550 5.7.1 Recipient refused\r\n"
              "554 5.5.1 Error: no valid recipients\r\n");
    EXPECT_FALSE(session->wants_close());
    // An accepted DATA with the message right behind it is unchanged.
    EXPECT_EQ(feed("RSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
                   "y\r\n.\r\n"),
              "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
              "354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_TRUE(session->committing());
}

TEST_F(ServerSessionTest, ShutdownLetsAMessageInDataFinish) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    session->shutdown();
    EXPECT_EQ(take(), "");
    EXPECT_FALSE(session->wants_close());
    feed("x\r\n.\r\n");
    session->commit_done(std::string("ID"));
    EXPECT_EQ(take(),
              "250 2.0.0 Ok: queued as ID\r\n421 4.3.2 relay.test Service shutting down\r\n");
    EXPECT_TRUE(session->wants_close());
}

TEST_F(ServerSessionTest, TimeoutClosesAndAbandonsTheMessage) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\npartial");
    session->timeout();
    EXPECT_EQ(take(), "421 4.4.2 relay.test Error: timeout exceeded\r\n");
    EXPECT_EQ(hooks.abandoned, 1);
    EXPECT_TRUE(session->wants_close());
}

TEST_F(ServerSessionTest, ByteByByteEqualsOneShot) {
    std::string script =
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@x.org>\r\n"
        "DATA\r\nSubject: t\r\n\r\n.leading\r\n..two\r\n.\r\nRSET\r\nVRFY x\r\nHELP\r\n";
    start();
    std::string whole = feed(script);
    session->commit_done(std::string("ID"));
    whole += take();
    Hooks first = hooks;
    hooks = Hooks{};
    start();
    std::string split = feed(script, true);
    session->commit_done(std::string("ID"));
    split += take();
    EXPECT_EQ(whole, split);
    EXPECT_EQ(first.messages, hooks.messages);
}

// ---- STARTTLS (RFC 3207) ---------------------------------------------------------------------

TEST_F(ServerSessionTest, StartTlsIsRefusedWhereTheListenerHasNoTls) {
    start();
    EXPECT_EQ(feed("EHLO client.test\r\n").find("STARTTLS"), std::string::npos);
    EXPECT_EQ(feed("STARTTLS\r\n"), "502 5.5.1 Error: STARTTLS not available on this listener\r\n");
    EXPECT_FALSE(session->wants_tls());
}

TEST_F(ServerSessionTest, StartTlsIsOfferedUntilTlsIsActive) {
    settings.starttls = true;
    start();
    EXPECT_NE(feed("EHLO client.test\r\n").find("250-STARTTLS\r\n"), std::string::npos);
    EXPECT_EQ(feed("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
    EXPECT_TRUE(session->wants_tls());
    session->tls_established();
    EXPECT_TRUE(session->tls_active());
    EXPECT_FALSE(session->wants_tls());
    EXPECT_EQ(take(), "") << "the client speaks first after the handshake";
    std::string ehlo = feed("EHLO client.test\r\n");
    EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos) << ehlo;
    EXPECT_EQ(feed("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
}

TEST_F(ServerSessionTest, StartTlsNeedsEhloFirst) {
    settings.starttls = true;
    start();
    EXPECT_EQ(feed("STARTTLS\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    EXPECT_FALSE(session->wants_tls());
}

// CVE-2011-0411: commands sent in plaintext right behind STARTTLS must not run inside TLS.
TEST_F(ServerSessionTest, InputPipelinedAfterStartTlsIsDiscarded) {
    settings.starttls = true;
    start();
    feed("EHLO client.test\r\n");
    EXPECT_EQ(feed("STARTTLS\r\nMAIL FROM:<evil@example.com>\r\nRSET\r\n"),
              "220 2.0.0 Ready to start TLS\r\n");
    EXPECT_EQ(feed("NOOP\r\n"), "") << "nothing is read until the handshake is done";
    session->tls_established();
    EXPECT_EQ(feed("EHLO client.test\r\n").substr(0, 14), "250-relay.test");
    EXPECT_EQ(feed("RCPT TO:<user@example.net>\r\n"), "503 5.5.1 Error: need MAIL command\r\n")
        << "the injected MAIL must not have started a transaction";
}

TEST_F(ServerSessionTest, TheHandshakeForgetsEhloAndTheTransaction) {
    settings.starttls = true;
    start();
    feed("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n");
    EXPECT_EQ(feed("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
    session->tls_established();
    EXPECT_EQ(session->helo(), "");
    EXPECT_FALSE(session->in_transaction());
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    feed("EHLO client.test\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(ServerSessionTest, ImplicitTlsGreetsAfterTheHandshake) {
    session.emplace(settings, hooks);
    session->tls_established();
    session->start();
    EXPECT_EQ(take(), "220 relay.test ESMTP relay\r\n");
    EXPECT_TRUE(session->tls_active());
    feed("EHLO client.test\r\n");
    EXPECT_EQ(feed("STARTTLS\r\n"), "502 5.5.1 Error: STARTTLS not available on this listener\r\n");
}

TEST_F(ServerSessionTest, ShutdownDuringTheHandshakeCloses) {
    settings.starttls = true;
    start();
    feed("EHLO client.test\r\nSTARTTLS\r\n");
    session->shutdown();
    EXPECT_TRUE(session->wants_close());
}

}  // namespace
}  // namespace relay::smtp
