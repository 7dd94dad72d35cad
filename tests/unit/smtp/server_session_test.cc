// The SMTP server state machine driven without a kernel: replies, phases, pipelining across a
// pending commit, BDAT bookkeeping, limits and smuggling, binary input before EHLO, input sent
// after a refused DATA, STARTTLS (what is discarded, what is forgotten).
#include "relay/smtp/server_session.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "relay/smtp/server_replies.h"

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
    Verdict check_recipient(const Transaction&, std::string_view recipient) override {
        if (recipient == "refused@example.net") {
            return PolicyReply{550, "5.7.1", "Recipient refused"};
        }
        return std::nullopt;
    }

    // AUTH: "acme/main" with "s3cret" logs in; "later/..." is answered through decide().
    Verdict check_login(const Credentials& credentials) override {
        logins.push_back(credentials.username);
        if (credentials.username.starts_with("later/")) {
            return Verdict::later();
        }
        if (credentials.username == "acme/main" && credentials.password == "s3cret") {
            return {};
        }
        return PolicyReply{535, "5.7.8", "Authentication credentials invalid"};
    }
    Verdict check_sender(const Transaction& transaction) override {
        return transaction.reverse_path.starts_with("later@") ? Verdict::later() : Verdict();
    }

    StringSink sink;
    std::vector<std::string> logins;
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

TEST_F(ServerSessionTest, FailedCommitSays451WithTheIncidentAndTheSessionGoesOn) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    feed("x\r\n.\r\n");
    session->commit_failed(system_error("cannot write /var/spool/relay/segments/7", EIO), "ABC123");
    // The client learns neither the file nor the system error, only what to quote.
    EXPECT_EQ(take(),
              "451 4.3.0 Error: local problem, message not queued; try again later "
              "(incident ABC123)\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(ServerSessionTest, AFullDiskSays452) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
    feed("x\r\n.\r\n");
    session->commit_failed(system_error("cannot write the spool", -ENOSPC), "ID");
    EXPECT_EQ(take(),
              "452 4.3.1 Error: insufficient system storage, message not queued; try again later "
              "(incident ID)\r\n");
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

TEST_F(ServerSessionTest, ARefusalAtConnectKeepsItsCodeAndCloses) {
    // 421: try again later (a connection limit); 554: never from here (RFC 5321 §3.1).
    session.emplace(settings, hooks);
    session->refuse(server_replies::too_many_connections);
    EXPECT_EQ(take(), "421 4.7.0 relay.test Error: too many connections\r\n");
    EXPECT_TRUE(session->wants_close());
    session.emplace(settings, hooks);
    session->refuse(server_replies::client_not_allowed);
    EXPECT_EQ(take(),
              "554 5.7.1 relay.test Error: your address is not allowed to use this service\r\n");
    EXPECT_TRUE(session->wants_close());
    EXPECT_EQ(feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\n"), "");  // nothing is executed
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

TEST_F(ServerSessionTest, RepeatedRecipientIsKeptOnceAndStartsAFreshCheckNextMessage) {
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\n");
    EXPECT_EQ(feed("RCPT TO:<1@example.net>\r\n"), "250 2.1.5 Ok\r\n");
    EXPECT_EQ(feed("RCPT TO:<1@example.net>\r\n"), "250 2.1.5 Ok\r\n");
    feed("RCPT TO:<2@example.net>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
    ASSERT_EQ(hooks.committed.size(), 1u);
    EXPECT_EQ(hooks.committed[0].recipients,
              (std::vector<std::string>{"1@example.net", "2@example.net"}));
    session->commit_done(std::string("0123456789ABCDEF"));
    take();
    // The next transaction starts with no recipient seen.
    feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<2@example.net>\r\n");
    feed("DATA\r\nSubject: y\r\n\r\nbody\r\n.\r\n");
    ASSERT_EQ(hooks.committed.size(), 2u);
    EXPECT_EQ(hooks.committed[1].recipients, (std::vector<std::string>{"2@example.net"}));
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

// --- SMTP AUTH (RFC 4954) and decisions that come later ---------------------------------------

// base64 of "\0acme/main\0s3cret" and of a wrong password.
constexpr const char* plain_ok = "AGFjbWUvbWFpbgBzM2NyZXQ=";
constexpr const char* plain_wrong = "AGFjbWUvbWFpbgB3cm9uZw==";

TEST_F(ServerSessionTest, AuthIsOfferedOnlyOnceTlsIsOnWhenSoConfigured) {
    settings.auth = AuthOffer::with_tls;
    settings.starttls = true;
    start();
    EXPECT_EQ(feed("EHLO c\r\n").find("AUTH"), std::string::npos);
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_ok + "\r\n"),
              "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
    EXPECT_TRUE(hooks.logins.empty());  // the password was never looked at
    EXPECT_EQ(feed("STARTTLS\r\n").substr(0, 4), "220 ");
    session->tls_established();
    EXPECT_NE(feed("EHLO c\r\n").find("250-AUTH PLAIN LOGIN\r\n"), std::string::npos);
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_ok + "\r\n"),
              "235 2.7.0 Authentication successful\r\n");
    EXPECT_EQ(session->authenticated_user(), "acme/main");
}

TEST_F(ServerSessionTest, ALoginBeforeStarttlsIsForgottenAfterIt) {
    settings.auth = AuthOffer::always;
    settings.auth_required = true;
    settings.starttls = true;
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_ok + "\r\n"),
              "235 2.7.0 Authentication successful\r\n");
    EXPECT_EQ(feed("STARTTLS\r\n").substr(0, 4), "220 ");
    session->tls_established();
    EXPECT_TRUE(session->authenticated_user().empty());  // RFC 3207 §4.2
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "530 5.7.0 Authentication required\r\n");
}

TEST_F(ServerSessionTest, AuthIsRefusedWhereItIsNotOffered) {
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_ok + "\r\n"),
              "502 5.5.1 Error: authentication not available on this listener\r\n");
}

TEST_F(ServerSessionTest, PlainWithAndWithoutAnInitialResponse) {
    settings.auth = AuthOffer::always;
    settings.auth_required = true;
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "530 5.7.0 Authentication required\r\n");
    EXPECT_EQ(feed("AUTH PLAIN\r\n"), "334 \r\n");
    EXPECT_EQ(feed(std::string(plain_ok) + "\r\n"), "235 2.7.0 Authentication successful\r\n");
    EXPECT_EQ(feed("MAIL FROM:<a@example.com>\r\n"), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(feed("AUTH PLAIN =\r\n"), "503 5.5.1 Error: already authenticated\r\n");
}

TEST_F(ServerSessionTest, LoginAsksForTheUsernameThenThePassword) {
    settings.auth = AuthOffer::always;
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(feed("YWNtZS9tYWlu\r\n"), "334 UGFzc3dvcmQ6\r\n");
    EXPECT_EQ(feed("czNjcmV0\r\n"), "235 2.7.0 Authentication successful\r\n");
    // With the username as initial response (swaks and Outlook send it so).
    settings.auth = AuthOffer::always;
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("auth login YWNtZS9tYWlu\r\n"), "334 UGFzc3dvcmQ6\r\n");
    EXPECT_EQ(feed("d3Jvbmc=\r\n"), "535 5.7.8 Authentication credentials invalid\r\n");
}

TEST_F(ServerSessionTest, AuthErrorsEachHaveTheirReply) {
    settings.auth = AuthOffer::always;
    settings.errors_per_session_max = 100;
    start();
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_ok + "\r\n"),
              "503 5.5.1 Error: send HELO/EHLO first\r\n");
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
    EXPECT_EQ(feed("AUTH PLAIN\r\n"), "334 \r\n");
    EXPECT_EQ(feed("not base64!\r\n"), "501 5.5.2 Cannot decode response\r\n");
    EXPECT_EQ(feed("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(feed("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
    EXPECT_EQ(feed("AUTH PLAIN Zm9v\r\n"),
              "501 5.5.2 Error: a PLAIN response is [authzid] NUL username NUL password\r\n");
    // Acting as another identity: b3RoZXIveABhY21lL21haW4AczNjcmV0 is
    // "other/x\0acme/main\0s3cret".
    EXPECT_EQ(feed("AUTH PLAIN b3RoZXIveABhY21lL21haW4AczNjcmV0\r\n"),
              "535 5.7.8 Authentication credentials invalid\r\n");
    EXPECT_EQ(hooks.logins.size(), 0u);
    feed("MAIL FROM:<a@example.com>\r\n");
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_ok + "\r\n"),
              "503 5.5.1 Error: AUTH is not allowed during a mail transaction\r\n");
    // After all that, the session still works.
    feed("RSET\r\n");
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_ok + "\r\n"),
              "235 2.7.0 Authentication successful\r\n");
}

TEST_F(ServerSessionTest, PasswordGuessingEndsTheSession) {
    settings.auth = AuthOffer::always;
    start();  // errors_per_session_max = 4, EHLO is not an error
    feed("EHLO c\r\n");
    for (int attempt = 0; attempt < 3; ++attempt) {
        EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_wrong + "\r\n"),
                  "535 5.7.8 Authentication credentials invalid\r\n");
    }
    EXPECT_EQ(feed(std::string("AUTH PLAIN ") + plain_wrong + "\r\n"),
              "535 5.7.8 Authentication credentials invalid\r\n"
              "421 4.7.0 relay.test Error: too many errors\r\n");
    EXPECT_TRUE(session->wants_close());
}

TEST_F(ServerSessionTest, ALoginAnsweredLaterHoldsThePipelinedCommands) {
    settings.auth = AuthOffer::always;
    start();
    feed("EHLO c\r\n");
    // "\0later/user\0pw", then MAIL pipelined behind it.
    EXPECT_EQ(feed("AUTH PLAIN AGxhdGVyL3VzZXIAcHc=\r\nMAIL FROM:<a@example.com>\r\n"), "");
    EXPECT_TRUE(session->waiting());
    session->timeout();  // a slow answer does not time the client out
    EXPECT_EQ(take(), "");
    session->decide(std::nullopt);
    EXPECT_EQ(take(), "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n");
    EXPECT_EQ(session->authenticated_user(), "later/user");

    start();
    feed("EHLO c\r\nAUTH PLAIN AGxhdGVyL3VzZXIAcHc=\r\n");
    session->decide(PolicyReply{454, "4.7.0", "Temporary authentication failure"});
    EXPECT_EQ(take(), "454 4.7.0 Temporary authentication failure\r\n");
    EXPECT_TRUE(session->authenticated_user().empty());
}

TEST_F(ServerSessionTest, ASenderDecidedLaterKeepsTheOrderOfReplies) {
    start();
    feed("EHLO c\r\n");
    EXPECT_EQ(feed("MAIL FROM:<later@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"), "");
    session->decide(PolicyReply{553, "5.7.1", "Sender not allowed"});
    // The refusal first; the pipelined RCPT and DATA then meet no transaction.
    EXPECT_EQ(take(),
              "553 5.7.1 Sender not allowed\r\n503 5.5.1 Error: need MAIL command\r\n"
              "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(ServerSessionTest, AClientGoneWhileADecisionIsPendingIsClosedAfterIt) {
    start();
    feed("EHLO c\r\nMAIL FROM:<later@example.com>\r\n");
    session->end_of_input();
    EXPECT_FALSE(session->wants_close());
    session->decide(std::nullopt);
    EXPECT_TRUE(session->wants_close());
}

TEST_F(ServerSessionTest, ARepeatedRecipientIsKeptOnce) {
    settings.recipients_per_message_max = 1000;
    start();
    feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\n");
    for (int i = 0; i < 500; ++i) {
        feed("RCPT TO:<r" + std::to_string(i % 250) + "@example.net>\r\n");
    }
    feed("DATA\r\nx\r\n.\r\n");
    ASSERT_EQ(hooks.committed.size(), 1u);
    EXPECT_EQ(hooks.committed[0].recipients.size(), 250u);
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
