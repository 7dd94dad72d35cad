// client_session_test.cc -- unit tests of the SMTP client state machine, driven against scripted
// server replies with byte-exact expectations on what the client writes: greeting, EHLO/HELO,
// STARTTLS, AUTH, plain and pipelined transactions with DATA and BDAT, dot-stuffing, per-recipient
// results, local refusals, 421, lost connections, replies split at every octet, and connection
// reuse; the body streamed in pieces (DATA stuffed across pieces, BDAT without a copy), a body
// that cannot be read, and the sizes declared with and without an added CRLF.
#include "relay/smtp/client_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace relay::smtp {
namespace {

using State = ClientSession::State;

constexpr std::string_view greeting_220 = "220 mx.example.net ESMTP ready\r\n";
constexpr std::string_view body_text = "Subject: hello\r\n\r\nHello there.\r\n";
constexpr std::string_view prefix_text = "X-Trace: relay.test\r\n";
// What the server receives as the message with DATA or BDAT: prefix then body.
const std::string message_text = std::string(prefix_text) + std::string(body_text);

ClientSettings test_settings() {
    ClientSettings settings;
    settings.helo_name = "relay.test";
    return settings;
}

// An EHLO reply: the greeting line, then one line per keyword.
std::string ehlo_reply(const std::vector<std::string_view>& keywords) {
    std::string out = "250";
    out += keywords.empty() ? " " : "-";
    out += "mx.example.net Hello relay.test\r\n";
    for (std::size_t index = 0; index < keywords.size(); ++index) {
        out += index + 1 == keywords.size() ? "250 " : "250-";
        out += keywords[index];
        out += "\r\n";
    }
    return out;
}

// `message` describing `body` as its stored body.
OutboundMessage with_body(OutboundMessage message, std::string_view body) {
    message.body_bytes = body.size();
    message.body_ends_with_crlf = body.empty() || body.ends_with("\r\n");
    return message;
}

OutboundMessage test_message(std::vector<std::string> recipients = {"alice@example.org"}) {
    OutboundMessage message;
    message.reverse_path = "bounces+t1@relay.test";
    message.recipients = std::move(recipients);
    message.prefix = std::string(prefix_text);
    return with_body(std::move(message), body_text);
}

// Streams `body` as the driver does, in pieces of `piece_bytes` (0: one piece), then ends it;
// returns what the client sends for it, end of data included.
std::string stream_body(ClientSession& session, std::string_view body, std::size_t piece_bytes) {
    EXPECT_TRUE(session.body_due());
    EXPECT_EQ(session.waiting_for(), Wait::data_block);
    const std::size_t step = piece_bytes == 0 ? std::max<std::size_t>(body.size(), 1) : piece_bytes;
    std::string out;
    for (std::size_t offset = 0; offset < body.size(); offset += step) {
        out += session.body_piece(body.substr(offset, step));
    }
    session.body_sent();
    EXPECT_FALSE(session.body_due());
    out += session.output();
    session.output().clear();
    return out;
}

std::vector<std::string> summaries(const TransactionResult& result) {
    std::vector<std::string> out;
    for (const Reply& reply : result.recipient_replies) {
        out.push_back(reply.summary());
    }
    return out;
}

// A session and the bytes it wrote since the last look.
class Client {
  public:
    explicit Client(const ClientSettings& settings = test_settings()) : session(settings) {}

    // Feeds server bytes and returns what the client wrote in response.
    std::string receive(std::string_view bytes) {
        session.receive(bytes);
        return take();
    }
    // What the client wrote; when the body is due, the body streamed after it (unless
    // `stream` is off).
    std::string take() {
        std::string out;
        out.swap(session.output());
        if (stream && session.body_due()) {
            out += stream_body(session, body, piece_bytes);
        }
        return out;
    }
    std::string send(const OutboundMessage& message, std::string_view stored = body_text) {
        body = stored;
        session.send(with_body(message, stored));
        return take();
    }
    std::vector<std::string> result_summaries() {
        std::optional<TransactionResult> result = session.take_result();
        EXPECT_TRUE(result.has_value());
        return result ? summaries(*result) : std::vector<std::string>{};
    }

    ClientSession session;
    std::string body;             // the stored body of the message sent last
    std::size_t piece_bytes = 0;  // how the body is cut: 0 is one piece
    bool stream = true;
};

// Greeting and EHLO done: the session is ready with `keywords`.
void make_ready(Client& client, const std::vector<std::string_view>& keywords) {
    EXPECT_EQ(client.receive(greeting_220), "EHLO relay.test\r\n");
    EXPECT_EQ(client.receive(ehlo_reply(keywords)), "");
    ASSERT_EQ(client.session.state(), State::ready) << client.session.failure();
}

// ---- greeting and EHLO ------------------------------------------------------------------------

TEST(ClientSessionGreeting, WaitsForGreetingThenSendsEhlo) {
    Client client;
    EXPECT_EQ(client.session.state(), State::greeting);
    EXPECT_EQ(client.session.waiting_for(), Wait::greeting);
    EXPECT_EQ(client.receive("220-mx.example.net ESMTP\r\n"), "");  // multi-line greeting
    EXPECT_EQ(client.receive("220 second line\r\n"), "EHLO relay.test\r\n");
    EXPECT_EQ(client.session.state(), State::greeting_up);
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    EXPECT_EQ(client.session.greeting(), "220 mx.example.net ESMTP");
    EXPECT_EQ(client.receive(ehlo_reply({"PIPELINING"})), "");
    EXPECT_EQ(client.session.state(), State::ready);
    EXPECT_EQ(client.session.waiting_for(), Wait::nothing);
    EXPECT_TRUE(client.session.capabilities().extended);
}

TEST(ClientSessionGreeting, PermanentRefusalFailsPermanently) {
    Client client;
    EXPECT_EQ(client.receive("554 5.7.1 mx.example.net no mail from you\r\n"), "QUIT\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_TRUE(client.session.failure_permanent());
    EXPECT_EQ(client.session.failure(),
              "greeting refused: 554 5.7.1 mx.example.net no mail from you");
    EXPECT_EQ(client.session.waiting_for(), Wait::nothing);
}

TEST(ClientSessionGreeting, TransientRefusalFailsTransiently) {
    for (const std::string_view greeting : {"450 4.3.2 busy\r\n", "421 4.3.2 go away\r\n"}) {
        Client client;
        client.receive(greeting);
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_FALSE(client.session.failure_permanent());
        EXPECT_NE(client.session.failure().find(greeting.substr(0, 3)), std::string::npos);
    }
}

TEST(ClientSessionGreeting, GarbageFailsWithProtocolError) {
    Client client;
    client.receive("HTTP/1.1 400 Bad Request\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_NE(client.session.failure().find("protocol error"), std::string::npos);
    EXPECT_NE(client.session.failure().find("HTTP/1.1"), std::string::npos);
    EXPECT_EQ(client.take(), "");
}

TEST(ClientSessionGreeting, EhloKeywordsAreReadCaseInsensitively) {
    Client client;
    client.receive(greeting_220);
    client.receive(ehlo_reply({"pipelining", "Chunking", "SMTPUTF8", "8bitmime",
                               "ENHANCEDSTATUSCODES", "size 35882577", "auth login PLAIN",
                               "AUTH=PLAIN CRAM-MD5", "X-UNKNOWN stuff", "DSN"}));
    ASSERT_EQ(client.session.state(), State::ready);
    const ServerCapabilities& caps = client.session.capabilities();
    EXPECT_TRUE(caps.pipelining);
    EXPECT_TRUE(caps.chunking);
    EXPECT_TRUE(caps.smtputf8);
    EXPECT_TRUE(caps.eight_bit_mime);
    EXPECT_TRUE(caps.enhanced_status_codes);
    EXPECT_FALSE(caps.starttls);
    EXPECT_TRUE(caps.size);
    EXPECT_EQ(caps.size_max, 35882577u);
    EXPECT_EQ(caps.auth_mechanisms, (std::vector<std::string>{"LOGIN", "PLAIN", "CRAM-MD5"}));
}

TEST(ClientSessionGreeting, SizeWithoutLimit) {
    for (const std::string_view keyword :
         {"SIZE", "SIZE 0", "SIZE lots", "SIZE 99999999999999999999"}) {
        Client client;
        make_ready(client, {keyword});
        EXPECT_TRUE(client.session.capabilities().size) << keyword;
        EXPECT_FALSE(client.session.capabilities().size_max.has_value()) << keyword;
    }
}

TEST(ClientSessionGreeting, FallsBackToHeloWhenEhloIsRefused) {
    for (const std::string_view refusal :
         {"502 5.5.2 command not recognized\r\n", "500 what\r\n"}) {
        Client client;
        EXPECT_EQ(client.receive(greeting_220), "EHLO relay.test\r\n");
        EXPECT_EQ(client.receive(refusal), "HELO relay.test\r\n");
        EXPECT_EQ(client.receive("250 mx.example.net\r\n"), "");
        ASSERT_EQ(client.session.state(), State::ready);
        EXPECT_FALSE(client.session.capabilities().extended);
        EXPECT_FALSE(client.session.capabilities().pipelining);
        // No extension: one command at a time, plain DATA, no SIZE.
        EXPECT_EQ(client.send(test_message()), "MAIL FROM:<bounces+t1@relay.test>\r\n");
    }
}

TEST(ClientSessionGreeting, HeloRefusedFails) {
    Client client;
    client.receive(greeting_220);
    client.receive("502 no EHLO\r\n");
    EXPECT_EQ(client.receive("550 5.7.1 go away\r\n"), "QUIT\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_TRUE(client.session.failure_permanent());
    EXPECT_EQ(client.session.failure(), "HELO refused: 550 5.7.1 go away");
}

TEST(ClientSessionGreeting, TransientEhloRefusalFails) {
    Client client;
    client.receive(greeting_220);
    EXPECT_EQ(client.receive("451 4.3.0 try later\r\n"), "QUIT\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_FALSE(client.session.failure_permanent());
}

// ---- STARTTLS -------------------------------------------------------------------------------

TEST(ClientSessionStarttls, UpgradesThenReadsNewCapabilities) {
    Client client;
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"PIPELINING", "STARTTLS", "SIZE 10"})), "STARTTLS\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    // A reply injected after the 220 in plaintext must never be read (RFC 3207 §5).
    EXPECT_EQ(client.receive("220 2.0.0 go ahead\r\n250 injected\r\n"), "");
    EXPECT_EQ(client.session.state(), State::tls_needed);
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    EXPECT_FALSE(client.session.capabilities().pipelining);  // forgotten (RFC 3207 §4.2)
    EXPECT_FALSE(client.session.tls_active());
    EXPECT_EQ(client.receive("250 more plaintext\r\n"), "");
    EXPECT_EQ(client.session.state(), State::tls_needed);

    client.session.tls_established();
    EXPECT_TRUE(client.session.tls_active());
    EXPECT_EQ(client.take(), "EHLO relay.test\r\n");
    EXPECT_EQ(client.session.state(), State::greeting_up);
    // The server now offers other things; STARTTLS again must not be sent.
    EXPECT_EQ(client.receive(ehlo_reply({"CHUNKING", "STARTTLS", "AUTH PLAIN"})), "");
    ASSERT_EQ(client.session.state(), State::ready);
    const ServerCapabilities& caps = client.session.capabilities();
    EXPECT_FALSE(caps.pipelining);
    EXPECT_TRUE(caps.chunking);
    EXPECT_FALSE(caps.size);
    EXPECT_EQ(caps.auth_mechanisms, std::vector<std::string>{"PLAIN"});
}

TEST(ClientSessionStarttls, ReplyBeforeTheCommandWasSentIsRefused) {
    Client client;
    client.receive(greeting_220);
    // The 220 arrives with the EHLO reply, before STARTTLS could have been sent.
    client.session.receive(ehlo_reply({"STARTTLS"}) + "220 2.0.0 go ahead\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_FALSE(client.session.tls_active());
    EXPECT_NE(client.session.failure().find("220 before STARTTLS was sent"), std::string::npos);
}

TEST(ClientSessionStarttls, RefusedUnderRequireTlsFails) {
    ClientSettings settings = test_settings();
    settings.require_tls = true;
    Client client(settings);
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"STARTTLS"})), "STARTTLS\r\n");
    EXPECT_EQ(client.receive("454 4.7.0 TLS not available\r\n"), "QUIT\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_EQ(client.session.failure(), "STARTTLS refused: 454 4.7.0 TLS not available");
    EXPECT_FALSE(client.session.failure_permanent());
}

TEST(ClientSessionStarttls, RefusedWithoutRequireTlsContinuesInPlaintext) {
    Client client;
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"STARTTLS", "PIPELINING"})), "STARTTLS\r\n");
    EXPECT_EQ(client.receive("454 4.7.0 TLS not available\r\n"), "");
    EXPECT_EQ(client.session.state(), State::ready);
    EXPECT_FALSE(client.session.tls_active());
    EXPECT_TRUE(client.session.capabilities().pipelining);
}

TEST(ClientSessionStarttls, NotOfferedUnderRequireTlsFails) {
    ClientSettings settings = test_settings();
    settings.require_tls = true;
    settings.try_starttls = false;  // require_tls implies trying
    Client client(settings);
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"PIPELINING"})), "QUIT\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_EQ(client.session.failure(), "STARTTLS not offered by the server");
}

TEST(ClientSessionStarttls, RequireTlsAfterHeloFallbackFails) {
    ClientSettings settings = test_settings();
    settings.require_tls = true;
    Client client(settings);
    client.receive(greeting_220);
    client.receive("502 no\r\n");
    EXPECT_EQ(client.receive("250 ok\r\n"), "QUIT\r\n");
    EXPECT_EQ(client.session.failure(), "STARTTLS not offered by the server");
}

TEST(ClientSessionStarttls, NotTriedWhenDisabled) {
    ClientSettings settings = test_settings();
    settings.try_starttls = false;
    Client client(settings);
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"STARTTLS"})), "");
    EXPECT_EQ(client.session.state(), State::ready);
}

TEST(ClientSessionStarttls, HandshakeFailureFails) {
    Client client;
    client.receive(greeting_220);
    client.receive(ehlo_reply({"STARTTLS"}));
    client.receive("220 go ahead\r\n");
    client.session.tls_failed("certificate verify failed");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_EQ(client.session.failure(),
              "TLS failure with mx.example.net after STARTTLS: certificate verify failed");
    EXPECT_EQ(client.take(), "");
}

TEST(ClientSessionStarttls, ImplicitTlsSkipsStarttls) {
    Client client;
    client.session.tls_established();
    EXPECT_TRUE(client.session.tls_active());
    EXPECT_EQ(client.take(), "");
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"STARTTLS"})), "");
    EXPECT_EQ(client.session.state(), State::ready);
}

// ---- AUTH -----------------------------------------------------------------------------------

ClientSettings auth_settings(std::string user = "user", std::string password = "pass") {
    ClientSettings settings = test_settings();
    settings.auth_username = std::move(user);
    settings.auth_password = std::move(password);
    return settings;
}

TEST(ClientSessionAuth, PlainWithInitialResponse) {
    Client client(auth_settings());
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"AUTH LOGIN PLAIN"})), "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    EXPECT_EQ(client.receive("235 2.7.0 Authentication successful\r\n"), "");
    EXPECT_EQ(client.session.state(), State::ready);
}

TEST(ClientSessionAuth, LoginWithTwoChallengesAndOldKeyword) {
    Client client(auth_settings());
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"AUTH=LOGIN"})), "AUTH LOGIN\r\n");
    EXPECT_EQ(client.receive("334 VXNlcm5hbWU6\r\n"), "dXNlcg==\r\n");
    EXPECT_EQ(client.receive("334 UGFzc3dvcmQ6\r\n"), "cGFzcw==\r\n");
    EXPECT_EQ(client.receive("235 2.7.0 ok\r\n"), "");
    EXPECT_EQ(client.session.state(), State::ready);
}

// RFC 4648 §10 test vectors, through the user name of AUTH LOGIN.
TEST(ClientSessionAuth, Base64MatchesRfc4648Vectors) {
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
        {std::string("\xff\xfe\x00x", 4), "//4AeA=="}};
    for (const auto& [plain, encoded] : vectors) {
        Client client(auth_settings(plain, "p"));
        client.receive(greeting_220);
        client.receive(ehlo_reply({"AUTH LOGIN"}));
        EXPECT_EQ(client.receive("334 VXNlcm5hbWU6\r\n"), encoded + "\r\n");
    }
}

TEST(ClientSessionAuth, RefusalPermanentOrTransient) {
    for (const auto& [reply, permanent] : std::vector<std::pair<std::string_view, bool>>{
             {"535 5.7.8 bad credentials\r\n", true}, {"454 4.7.0 try later\r\n", false}}) {
        Client client(auth_settings());
        client.receive(greeting_220);
        client.receive(ehlo_reply({"AUTH PLAIN"}));
        EXPECT_EQ(client.receive(reply), "QUIT\r\n");
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_EQ(client.session.failure_permanent(), permanent);
        EXPECT_EQ(client.session.failure().rfind(
                      "AUTH PLAIN refused: " + std::string(reply.substr(0, 3)), 0),
                  0u)
            << client.session.failure();
        // The password never shows in the failure line.
        EXPECT_EQ(client.session.failure().find("pass"), std::string::npos);
    }
}

TEST(ClientSessionAuth, LoginRefusedAtPassword) {
    Client client(auth_settings());
    client.receive(greeting_220);
    client.receive(ehlo_reply({"AUTH LOGIN"}));
    client.receive("334 VXNlcm5hbWU6\r\n");
    client.receive("334 UGFzc3dvcmQ6\r\n");
    client.receive("535 5.7.8 no\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_TRUE(client.session.failure_permanent());
    EXPECT_EQ(client.session.failure(), "AUTH LOGIN refused: 535 5.7.8 no");
}

TEST(ClientSessionAuth, NoSupportedMechanism) {
    for (const std::string_view keyword : {"AUTH CRAM-MD5 XOAUTH2", "PIPELINING"}) {
        Client client(auth_settings());
        client.receive(greeting_220);
        EXPECT_EQ(client.receive(ehlo_reply({keyword})), "QUIT\r\n");
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_EQ(client.session.failure(), "server offers no supported AUTH mechanism");
    }
}

TEST(ClientSessionAuth, AfterStarttlsUsesTheNewMechanisms) {
    Client client(auth_settings());
    client.receive(greeting_220);
    EXPECT_EQ(client.receive(ehlo_reply({"STARTTLS"})), "STARTTLS\r\n");
    client.receive("220 ready\r\n");
    client.session.tls_established();
    EXPECT_EQ(client.take(), "EHLO relay.test\r\n");
    EXPECT_EQ(client.receive(ehlo_reply({"AUTH PLAIN"})), "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
}

// ---- transactions without pipelining ---------------------------------------------------------

TEST(ClientSessionTransaction, FullFlowOneCommandAtATime) {
    Client client;
    make_ready(client, {"8BITMIME", "SIZE 1000000"});
    OutboundMessage message = test_message({"alice@example.org", "bob@example.org"});
    message.eight_bit = true;
    EXPECT_EQ(client.send(message), "MAIL FROM:<bounces+t1@relay.test> SIZE=" +
                                        std::to_string(message_text.size()) + " BODY=8BITMIME\r\n");
    EXPECT_EQ(client.session.state(), State::transaction);
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    EXPECT_EQ(client.receive("250 2.1.0 Ok\r\n"), "RCPT TO:<alice@example.org>\r\n");
    EXPECT_EQ(client.receive("250 2.1.5 Ok\r\n"), "RCPT TO:<bob@example.org>\r\n");
    EXPECT_EQ(client.receive("250 2.1.5 Ok\r\n"), "DATA\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_start);
    EXPECT_FALSE(client.session.take_result().has_value());
    EXPECT_EQ(client.receive("354 End data with <CR><LF>.<CR><LF>\r\n"), message_text + ".\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_end);
    EXPECT_EQ(client.receive("250 2.0.0 Ok: queued as 4F1\r\n"), "");
    EXPECT_EQ(client.session.state(), State::ready);
    EXPECT_EQ(client.session.waiting_for(), Wait::nothing);
    std::optional<TransactionResult> result = client.session.take_result();
    ASSERT_TRUE(result.has_value());
    EXPECT_FALSE(result->local);
    EXPECT_EQ(summaries(*result), (std::vector<std::string>{"250 2.0.0 Ok: queued as 4F1",
                                                            "250 2.0.0 Ok: queued as 4F1"}));
    EXPECT_FALSE(client.session.take_result().has_value());  // taken once
}

TEST(ClientSessionTransaction, NullSenderAndUtf8Parameters) {
    Client client;
    make_ready(client, {"SMTPUTF8", "8BITMIME"});
    OutboundMessage message = test_message({"j\xc3\xb6rg@example.org"});
    message.reverse_path.clear();
    message.smtputf8 = true;
    message.eight_bit = true;
    EXPECT_EQ(client.send(message), "MAIL FROM:<> BODY=8BITMIME SMTPUTF8\r\n");
    EXPECT_EQ(client.receive("250 ok\r\n"), "RCPT TO:<j\xc3\xb6rg@example.org>\r\n");
}

TEST(ClientSessionTransaction, DotStuffingIsExact) {
    Client client;
    make_ready(client, {});
    static constexpr std::string_view body =
        ".starts with a dot\r\n"
        "..two dots\r\n"
        "middle . dot\r\n"
        ".\r\n"
        "\r\n"
        ". \r\n"
        "bare lf\n.after bare lf\r\n"
        "last line without CRLF .";
    OutboundMessage message = test_message();
    message.prefix = ".X-Odd: prefix\r\n";
    client.send(message, body);
    client.receive("250 ok\r\n");
    EXPECT_EQ(client.receive("250 ok\r\n"), "DATA\r\n");
    EXPECT_EQ(client.receive("354 go\r\n"),
              "..X-Odd: prefix\r\n"
              "..starts with a dot\r\n"
              "...two dots\r\n"
              "middle . dot\r\n"
              "..\r\n"
              "\r\n"
              ".. \r\n"
              "bare lf\n..after bare lf\r\n"
              "last line without CRLF .\r\n"
              ".\r\n");
}

TEST(ClientSessionTransaction, EmptyMessageAndBodyWithoutPrefix) {
    Client client;
    make_ready(client, {"SIZE"});
    OutboundMessage message = test_message();
    message.prefix.clear();
    EXPECT_EQ(client.send(message, ""), "MAIL FROM:<bounces+t1@relay.test> SIZE=0\r\n");
    client.receive("250 ok\r\n");
    client.receive("250 ok\r\n");
    EXPECT_EQ(client.receive("354 go\r\n"), ".\r\n");
    client.receive("250 ok\r\n");
    ASSERT_EQ(client.session.state(), State::ready);

    const std::string_view body = "line ending in a dot\r\n.";  // the "." is a line of its own
    EXPECT_EQ(client.send(message, body),
              "MAIL FROM:<bounces+t1@relay.test> SIZE=" + std::to_string(body.size() + 2) + "\r\n");
    client.receive("250 ok\r\n");
    client.receive("250 ok\r\n");
    EXPECT_EQ(client.receive("354 go\r\n"), "line ending in a dot\r\n..\r\n.\r\n");
}

TEST(ClientSessionTransaction, ChunkingWithoutPipelining) {
    Client client;
    make_ready(client, {"CHUNKING"});
    OutboundMessage message = test_message();
    static constexpr std::string_view body = ".dot line\r\nend";
    EXPECT_EQ(client.send(message, body), "MAIL FROM:<bounces+t1@relay.test>\r\n");
    EXPECT_EQ(client.receive("250 ok\r\n"), "RCPT TO:<alice@example.org>\r\n");
    const std::string data = std::string(prefix_text) + ".dot line\r\nend\r\n";
    EXPECT_EQ(client.receive("250 ok\r\n"),
              "BDAT " + std::to_string(data.size()) + " LAST\r\n" + data);
    EXPECT_EQ(client.session.waiting_for(), Wait::data_end);
    client.receive("250 2.0.0 queued\r\n");
    EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"250 2.0.0 queued"});
    EXPECT_EQ(client.session.state(), State::ready);
}

// Each recipient's final word: 250 RCPT then the data reply, 550 and 450 RCPT replies.
class MixedRecipients : public ::testing::TestWithParam<std::tuple<bool, std::string>> {};

TEST_P(MixedRecipients, EachRecipientGetsItsFinalReply) {
    const auto& [pipelining, data_reply] = GetParam();
    Client client;
    make_ready(client, pipelining ? std::vector<std::string_view>{"PIPELINING"}
                                  : std::vector<std::string_view>{});
    client.send(test_message({"ok@example.org", "unknown@example.org", "full@example.org"}));
    client.receive("250 2.1.0 sender ok\r\n");
    client.receive("250 2.1.5 ok\r\n");
    client.receive("550 5.1.1 no such user\r\n");
    EXPECT_EQ(client.receive("450 4.2.2 mailbox full\r\n"), pipelining ? "" : "DATA\r\n");
    EXPECT_EQ(client.receive("354 go\r\n"), message_text + ".\r\n");
    EXPECT_EQ(client.receive(data_reply + "\r\n"), "");
    EXPECT_EQ(client.session.state(), State::ready);
    EXPECT_EQ(
        client.result_summaries(),
        (std::vector<std::string>{data_reply, "550 5.1.1 no such user", "450 4.2.2 mailbox full"}));
}

INSTANTIATE_TEST_SUITE_P(DataReplies, MixedRecipients,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values("250 2.0.0 queued",
                                                              "450 4.7.1 greylisted",
                                                              "550 5.7.1 spam")));

TEST(ClientSessionTransaction, MailRejectedGivesEveryRecipientTheMailReply) {
    for (const bool pipelining : {false, true}) {
        for (const std::string reply : {"550 5.7.1 sender refused", "451 4.3.0 try later"}) {
            Client client;
            make_ready(client, pipelining ? std::vector<std::string_view>{"PIPELINING"}
                                          : std::vector<std::string_view>{});
            client.send(test_message({"a@example.org", "b@example.org"}));
            std::string out = client.receive(reply + "\r\n");
            if (pipelining) {
                out += client.receive("503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n");
                out += client.receive("503 5.5.1 no valid recipients\r\n");
            }
            EXPECT_EQ(out, "");  // no RSET: no transaction is open
            EXPECT_EQ(client.session.state(), State::ready);
            EXPECT_EQ(client.result_summaries(), (std::vector<std::string>{reply, reply}));
            // The session is still good for the next message.
            EXPECT_EQ(client.send(test_message()).substr(0, 10), "MAIL FROM:");
        }
    }
}

TEST(ClientSessionTransaction, AllRecipientsRejectedWithoutPipeliningSendsRset) {
    Client client;
    make_ready(client, {});
    client.send(test_message({"a@example.org", "b@example.org"}));
    client.receive("250 ok\r\n");
    client.receive("550 5.1.1 no a\r\n");
    EXPECT_EQ(client.receive("550 5.1.1 no b\r\n"), "RSET\r\n");
    EXPECT_EQ(client.session.state(), State::transaction);
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    EXPECT_FALSE(client.session.take_result().has_value());
    EXPECT_EQ(client.receive("250 2.0.0 reset\r\n"), "");
    EXPECT_EQ(client.session.state(), State::ready);
    EXPECT_EQ(client.result_summaries(),
              (std::vector<std::string>{"550 5.1.1 no a", "550 5.1.1 no b"}));
    EXPECT_EQ(client.send(test_message()), "MAIL FROM:<bounces+t1@relay.test>\r\n");
}

TEST(ClientSessionTransaction, AllRecipientsRejectedPipelinedDataRefused) {
    Client client;
    make_ready(client, {"PIPELINING"});
    EXPECT_EQ(client.send(test_message({"a@example.org"})),
              "MAIL FROM:<bounces+t1@relay.test>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
    EXPECT_EQ(client.receive("250 ok\r\n550 5.1.1 no a\r\n554 5.5.1 no valid recipients\r\n"),
              "RSET\r\n");
    EXPECT_EQ(client.receive("250 ok\r\n"), "");
    EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"550 5.1.1 no a"});
    EXPECT_EQ(client.session.state(), State::ready);
}

TEST(ClientSessionTransaction, AllRecipientsRejectedPipelinedDataAcceptedAnyway) {
    Client client;
    make_ready(client, {"PIPELINING"});
    client.send(test_message({"a@example.org"}));
    // A server that says 354 anyway gets an empty message, and its verdict is ignored.
    EXPECT_EQ(client.receive("250 ok\r\n550 5.1.1 no a\r\n354 go\r\n"), ".\r\n");
    EXPECT_EQ(client.receive("250 2.0.0 queued nothing\r\n"), "");
    EXPECT_EQ(client.session.state(), State::ready);
    EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"550 5.1.1 no a"});
}

TEST(ClientSessionTransaction, DataRefusedAfterAcceptedRecipientsSendsRset) {
    Client client;
    make_ready(client, {});
    client.send(test_message({"a@example.org"}));
    client.receive("250 ok\r\n");
    client.receive("250 ok\r\n");
    EXPECT_EQ(client.receive("451 4.3.0 cannot take data now\r\n"), "RSET\r\n");
    client.receive("250 ok\r\n");
    EXPECT_EQ(client.result_summaries(),
              std::vector<std::string>{"451 4.3.0 cannot take data now"});
}

// ---- pipelining and chunking --------------------------------------------------------------

TEST(ClientSessionPipelining, DataBatch) {
    Client client;
    make_ready(client, {"PIPELINING", "SIZE 100000"});
    EXPECT_EQ(client.send(test_message({"a@example.org", "b@example.org"})),
              "MAIL FROM:<bounces+t1@relay.test> SIZE=" + std::to_string(message_text.size()) +
                  "\r\n"
                  "RCPT TO:<a@example.org>\r\n"
                  "RCPT TO:<b@example.org>\r\n"
                  "DATA\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    EXPECT_EQ(client.receive("250 ok\r\n250 ok\r\n"), "");
    EXPECT_EQ(client.session.waiting_for(), Wait::command);  // the second RCPT
    EXPECT_EQ(client.receive("250 ok\r\n"), "");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_start);
    EXPECT_EQ(client.receive("354 go\r\n"), message_text + ".\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_end);
    client.receive("250 2.0.0 queued\r\n");
    EXPECT_EQ(client.result_summaries(),
              (std::vector<std::string>{"250 2.0.0 queued", "250 2.0.0 queued"}));
}

TEST(ClientSessionPipelining, ChunkingBatchSendsDataRaw) {
    Client client;
    make_ready(client, {"PIPELINING", "CHUNKING", "8BITMIME"});
    OutboundMessage message = test_message({"a@example.org", "b@example.org"});
    static constexpr std::string_view body = ".not stuffed\r\n\xc3\xa9t\xc3\xa9\r\n";
    message.eight_bit = true;
    const std::string data = std::string(prefix_text) + std::string(body);
    EXPECT_EQ(client.send(message, body),
              "MAIL FROM:<bounces+t1@relay.test> BODY=8BITMIME\r\n"
              "RCPT TO:<a@example.org>\r\n"
              "RCPT TO:<b@example.org>\r\n"
              "BDAT " +
                  std::to_string(data.size()) + " LAST\r\n" + data);
    EXPECT_EQ(client.receive("250 ok\r\n250 ok\r\n550 5.1.1 no b\r\n"), "");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_end);
    EXPECT_EQ(client.receive("250 2.0.0 queued\r\n"), "");
    EXPECT_EQ(client.result_summaries(),
              (std::vector<std::string>{"250 2.0.0 queued", "550 5.1.1 no b"}));
    EXPECT_EQ(client.session.state(), State::ready);
}

TEST(ClientSessionPipelining, ChunkRefusedSendsRset) {
    Client client;
    make_ready(client, {"PIPELINING", "CHUNKING"});
    client.send(test_message({"a@example.org"}));
    // RFC 3030: after a refused BDAT the transaction stays open until RSET.
    EXPECT_EQ(client.receive("250 ok\r\n550 5.1.1 no a\r\n554 5.5.1 no valid recipients\r\n"),
              "RSET\r\n");
    client.receive("250 ok\r\n");
    EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"550 5.1.1 no a"});

    client.send(test_message({"a@example.org"}));
    EXPECT_EQ(client.receive("250 ok\r\n250 ok\r\n452 4.3.1 disk full\r\n"), "RSET\r\n");
    client.receive("250 ok\r\n");
    EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"452 4.3.1 disk full"});
}

TEST(ClientSessionPipelining, TwoTransactionsOnOneSession) {
    Client client;
    make_ready(client, {"PIPELINING"});
    for (int round = 0; round < 3; ++round) {
        OutboundMessage message = test_message({"r" + std::to_string(round) + "@example.org"});
        EXPECT_EQ(client.send(message), "MAIL FROM:<bounces+t1@relay.test>\r\nRCPT TO:<r" +
                                            std::to_string(round) + "@example.org>\r\nDATA\r\n");
        EXPECT_EQ(client.receive("250 ok\r\n250 ok\r\n354 go\r\n"), message_text + ".\r\n");
        const std::string reply = "250 2.0.0 queued as " + std::to_string(round);
        client.receive(reply + "\r\n");
        EXPECT_EQ(client.result_summaries(), std::vector<std::string>{reply});
    }
    client.session.quit();
    EXPECT_EQ(client.take(), "QUIT\r\n");
    EXPECT_EQ(client.session.state(), State::quitting);
    EXPECT_EQ(client.session.waiting_for(), Wait::command);
    client.receive("221 2.0.0 bye\r\n");
    EXPECT_EQ(client.session.state(), State::closed);
    EXPECT_EQ(client.session.waiting_for(), Wait::nothing);
}

// ---- local refusals -------------------------------------------------------------------------

TEST(ClientSessionLocal, RefusesWhatTheServerCannotTake) {
    struct Case {
        std::vector<std::string_view> keywords;
        bool smtputf8;
        bool eight_bit;
        std::string expected_start;
    };
    const std::vector<Case> cases = {
        {{"8BITMIME"}, true, true, "550 5.6.7 mx.example.net does not support SMTPUTF8"},
        {{"SMTPUTF8"}, false, true, "554 5.6.3 mx.example.net does not support 8BITMIME"},
        {{"SIZE 10"},
         false,
         false,
         "552 5.3.4 message of " + std::to_string(message_text.size()) +
             " octets exceeds the limit of 10 octets"},
    };
    for (const Case& c : cases) {
        Client client;
        make_ready(client, c.keywords);
        OutboundMessage message = test_message({"a@example.org", "b@example.org"});
        message.smtputf8 = c.smtputf8;
        message.eight_bit = c.eight_bit;
        EXPECT_EQ(client.send(message), "");  // nothing sent
        EXPECT_EQ(client.session.state(), State::ready);
        std::optional<TransactionResult> result = client.session.take_result();
        ASSERT_TRUE(result.has_value());
        EXPECT_TRUE(result->local);
        ASSERT_EQ(result->recipient_replies.size(), 2u);
        for (const Reply& reply : result->recipient_replies) {
            EXPECT_EQ(reply.summary().rfind(c.expected_start, 0), 0u) << reply.summary();
        }
        // The session stays usable.
        message.smtputf8 = false;
        message.eight_bit = false;
        message.prefix.clear();
        EXPECT_NE(client.send(message, "x\r\n"), "");
    }
}

TEST(ClientSessionLocal, SizeAtTheLimitIsSent) {
    Client client;
    const std::string keyword = "SIZE " + std::to_string(message_text.size());
    make_ready(client, {keyword});
    EXPECT_EQ(client.send(test_message()), "MAIL FROM:<bounces+t1@relay.test> SIZE=" +
                                               std::to_string(message_text.size()) + "\r\n");
}

// ---- the body in pieces ---------------------------------------------------------------------

// A body with what stuffing must get right: dots at line starts, bare LF, no final CRLF.
constexpr std::string_view tricky_body =
    ".starts with a dot\r\n..two\r\n.\r\nmid . dot\r\n\r\n.\nbare lf\r\n.\r\n.last";
// What the server must receive for it after the 354: the prefix and the body stuffed, the
// CRLF the session adds, the final dot (the output of the session that sent it whole).
const std::string tricky_data = std::string(prefix_text) +
                                "..starts with a dot\r\n...two\r\n..\r\nmid . dot\r\n\r\n..\n"
                                "bare lf\r\n..\r\n..last\r\n.\r\n";

// The session after the 354 for `body`, without streaming it.
void start_data(Client& client, std::string_view body) {
    make_ready(client, {"PIPELINING"});
    client.stream = false;
    client.send(test_message(), body);
    EXPECT_EQ(client.receive("250 ok\r\n250 ok\r\n354 go\r\n"), prefix_text);
    ASSERT_TRUE(client.session.body_due());
}

TEST(ClientSessionStreaming, DataInPiecesOfEverySizeEqualsTheWholeBody) {
    for (std::size_t piece_bytes = 0; piece_bytes <= tricky_body.size() + 1; ++piece_bytes) {
        Client client;
        client.piece_bytes = piece_bytes;
        make_ready(client, {"PIPELINING"});
        client.send(test_message(), tricky_body);
        EXPECT_EQ(client.receive("250 ok\r\n250 ok\r\n354 go\r\n"), tricky_data)
            << "pieces of " << piece_bytes;
        EXPECT_EQ(client.session.waiting_for(), Wait::data_end);
        EXPECT_EQ(client.receive("250 2.0.0 queued\r\n"), "");
        EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"250 2.0.0 queued"});
    }
}

TEST(ClientSessionStreaming, DataInRandomPiecesWithEmptyOnesEqualsTheWholeBody) {
    std::mt19937 random(5321);
    for (int round = 0; round < 200; ++round) {
        Client client;
        start_data(client, tricky_body);
        std::string out;
        std::size_t offset = 0;
        while (offset < tricky_body.size()) {
            const std::size_t size = std::uniform_int_distribution<std::size_t>(0, 9)(random);
            const std::string_view piece = tricky_body.substr(offset, size);
            out += client.session.body_piece(piece);
            offset += piece.size();
            EXPECT_EQ(client.session.waiting_for(), Wait::data_block);
        }
        client.session.body_sent();
        out += client.take();
        EXPECT_EQ(std::string(prefix_text) + out, tricky_data) << "round " << round;
    }
}

TEST(ClientSessionStreaming, DataPiecesWithoutDotsAreNotCopied) {
    Client client;
    start_data(client, body_text);
    const std::string_view first = body_text.substr(0, 10);
    const std::string_view second = body_text.substr(10);
    EXPECT_EQ(client.session.body_piece(first).data(), first.data());
    EXPECT_EQ(client.session.body_piece(second).data(), second.data());
    client.session.body_sent();
    EXPECT_EQ(client.take(), ".\r\n");
}

TEST(ClientSessionStreaming, CrLfSplitAcrossPiecesAddsNoCrlf) {
    Client client;
    start_data(client, "a\r\n.b\r\n");
    std::string out;
    for (const std::string_view piece : {"a\r", "\n", ".b\r", "\n"}) {
        out += client.session.body_piece(piece);
    }
    client.session.body_sent();
    out += client.take();
    EXPECT_EQ(out, "a\r\n..b\r\n.\r\n");
}

TEST(ClientSessionStreaming, BdatReturnsThePiecesThemselves) {
    Client client;
    make_ready(client, {"PIPELINING", "CHUNKING"});
    client.stream = false;
    const std::string body = ".a\r\n.b";  // no final CRLF: the session adds it
    const std::string data = std::string(prefix_text) + body + "\r\n";
    EXPECT_EQ(client.send(test_message(), body),
              "MAIL FROM:<bounces+t1@relay.test>\r\nRCPT TO:<alice@example.org>\r\nBDAT " +
                  std::to_string(data.size()) + " LAST\r\n" + std::string(prefix_text));
    ASSERT_TRUE(client.session.body_due());
    EXPECT_EQ(client.session.waiting_for(), Wait::data_block);
    const std::string_view whole = body;
    for (const std::string_view piece : {whole.substr(0, 3), whole.substr(3, 0), whole.substr(3)}) {
        const std::string_view out = client.session.body_piece(piece);
        EXPECT_EQ(out.data(), piece.data());
        EXPECT_EQ(out.size(), piece.size());
    }
    client.session.body_sent();
    EXPECT_EQ(client.take(), "\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::command);  // MAIL and RCPT still unanswered
    EXPECT_EQ(client.receive("250 ok\r\n250 ok\r\n"), "");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_end);
    EXPECT_EQ(client.receive("250 2.0.0 queued\r\n"), "");
    EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"250 2.0.0 queued"});
}

TEST(ClientSessionStreaming, BdatBodyIsSentEvenWhenEveryRecipientFails) {
    Client client;
    make_ready(client, {"PIPELINING", "CHUNKING"});
    client.stream = false;
    client.send(test_message({"a@example.org", "b@example.org"}));
    // The RCPT replies come while the body is being sent; the chunk must still be sent whole.
    EXPECT_EQ(client.receive("250 ok\r\n550 5.1.1 no a\r\n550 5.1.1 no b\r\n"), "");
    EXPECT_TRUE(client.session.body_due());
    EXPECT_EQ(client.session.waiting_for(), Wait::data_block);
    EXPECT_EQ(client.session.body_piece(body_text), body_text);
    client.session.body_sent();
    EXPECT_EQ(client.take(), "");
    EXPECT_EQ(client.receive("554 5.5.1 no valid recipients\r\n"), "RSET\r\n");
    EXPECT_EQ(client.receive("250 ok\r\n"), "");
    EXPECT_EQ(client.result_summaries(),
              (std::vector<std::string>{"550 5.1.1 no a", "550 5.1.1 no b"}));
    EXPECT_EQ(client.session.state(), State::ready);
}

TEST(ClientSessionStreaming, ReplyToTheDataBeforeTheBodyIsSentIsAProtocolError) {
    {
        Client client;
        make_ready(client, {"PIPELINING", "CHUNKING"});
        client.stream = false;
        client.send(test_message());
        (void)client.session.body_piece(body_text.substr(0, 5));
        client.receive("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n");
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_FALSE(client.session.body_due());
        EXPECT_NE(client.session.failure().find("BDAT answered before the data was sent"),
                  std::string::npos);
        EXPECT_EQ(
            client.result_summaries(),
            std::vector<std::string>{"451 4.5.0 protocol error with mx.example.net after BDAT"});
        EXPECT_EQ(client.take(), "");
    }
    {
        Client client;
        start_data(client, body_text);
        client.receive("250 2.0.0 queued\r\n");
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_EQ(
            client.result_summaries(),
            std::vector<std::string>{"451 4.5.0 protocol error with mx.example.net after DATA"});
        EXPECT_EQ(client.take(), "");
    }
}

TEST(ClientSessionStreaming, BodyFailedMidDataFailsTheTransaction) {
    Client client;
    make_ready(client, {"PIPELINING"});
    client.stream = false;
    client.send(test_message({"a@example.org", "b@example.org"}), tricky_body);
    client.receive("250 ok\r\n250 ok\r\n550 5.1.1 no b\r\n354 go\r\n");
    (void)client.session.body_piece(tricky_body.substr(0, 7));
    client.session.body_failed(Reply{554, "5.3.0", "the queued copy of the message is damaged"});
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_FALSE(client.session.body_due());
    EXPECT_FALSE(client.session.failure_permanent());
    EXPECT_EQ(client.session.failure(),
              "the message data for mx.example.net could not be read: 554 5.3.0 the queued copy "
              "of the message is damaged");
    EXPECT_EQ(client.session.waiting_for(), Wait::nothing);
    EXPECT_EQ(client.take(), "");  // no end of data, no QUIT: the driver drops the connection
    std::optional<TransactionResult> result = client.session.take_result();
    ASSERT_TRUE(result.has_value());
    EXPECT_FALSE(result->local);
    EXPECT_EQ(summaries(*result),
              (std::vector<std::string>{"554 5.3.0 the queued copy of the message is damaged",
                                        "550 5.1.1 no b"}));
    // a's reply is relay's own; b's came from the server.
    EXPECT_EQ(result->relay_failed, (std::vector<bool>{true, false}));
    EXPECT_EQ(client.receive("250 2.0.0 queued\r\n"), "");  // later replies are dropped
    EXPECT_EQ(client.session.state(), State::failed);
}

TEST(ClientSessionStreaming, BodyFailedMidBdatGivesOpenRecipientsTheReply) {
    Client client;
    make_ready(client, {"PIPELINING", "CHUNKING"});
    client.stream = false;
    client.send(test_message({"a@example.org", "b@example.org"}));
    client.receive("250 ok\r\n550 5.1.1 no a\r\n");  // b's RCPT reply has not come
    (void)client.session.body_piece(body_text.substr(0, 3));
    client.session.body_failed(Reply{451, "4.3.0", "spool read failed"});
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_EQ(client.take(), "");
    EXPECT_EQ(client.result_summaries(),
              (std::vector<std::string>{"550 5.1.1 no a", "451 4.3.0 spool read failed"}));
}

TEST(ClientSessionStreaming, ConnectionLostWhileTheBodyIsDue) {
    {
        Client client;
        start_data(client, body_text);
        (void)client.session.body_piece(body_text.substr(0, 4));
        client.session.connection_lost("timed out waiting for the data to be sent");
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_EQ(client.session.failure(),
                  "connection lost with mx.example.net after DATA: timed out waiting for the "
                  "data to be sent");
        EXPECT_EQ(
            client.result_summaries(),
            std::vector<std::string>{"451 4.4.2 connection lost with mx.example.net after DATA"});
    }
    {
        Client client;
        make_ready(client, {"PIPELINING", "CHUNKING"});
        client.stream = false;
        client.send(test_message({"a@example.org", "b@example.org"}));
        client.receive("250 ok\r\n250 ok\r\n");
        client.session.connection_lost("reset");
        EXPECT_EQ(client.result_summaries(),
                  (std::vector<std::string>{
                      "451 4.4.2 connection lost with mx.example.net after RCPT TO",
                      "451 4.4.2 connection lost with mx.example.net after RCPT TO"}));
    }
    {
        Client client;
        start_data(client, body_text);
        client.session.quit();
        EXPECT_EQ(client.session.state(), State::closed);
        EXPECT_FALSE(client.session.body_due());
        EXPECT_EQ(client.take(), "");
        EXPECT_EQ(client.result_summaries(),
                  std::vector<std::string>{
                      "451 4.3.0 delivery stopped by relay with mx.example.net after DATA"});
    }
}

TEST(ClientSessionStreaming, EmptyBodyIsDueAndEndsAtOnce) {
    Client client;
    start_data(client, "");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_block);
    client.session.body_sent();  // the prefix ends in CRLF: nothing to add
    EXPECT_EQ(client.take(), ".\r\n");
    EXPECT_EQ(client.session.waiting_for(), Wait::data_end);
}

// SIZE= and the BDAT size count the CRLF the session adds, and only when it adds one.
TEST(ClientSessionStreaming, SizesCountTheAddedCrlf) {
    struct Case {
        std::string prefix;
        std::string body;
        std::string data;  // what the server receives
    };
    const std::vector<Case> cases = {
        {std::string(prefix_text), "abc\r\n", std::string(prefix_text) + "abc\r\n"},
        {std::string(prefix_text), "abc", std::string(prefix_text) + "abc\r\n"},
        {std::string(prefix_text), "abc\r", std::string(prefix_text) + "abc\r\r\n"},
        {std::string(prefix_text), "\n", std::string(prefix_text) + "\n\r\n"},
        {std::string(prefix_text), "", std::string(prefix_text)},
        {"", "abc", "abc\r\n"},
        {"", "\r\n", "\r\n"},
        {"", "", ""},
    };
    for (const Case& c : cases) {
        Client client;
        client.piece_bytes = 1;
        make_ready(client, {"PIPELINING", "CHUNKING", "SIZE 1000"});
        OutboundMessage message = test_message();
        message.prefix = c.prefix;
        const std::string size = std::to_string(c.data.size());
        std::string expected = "MAIL FROM:<bounces+t1@relay.test> SIZE=" + size;
        expected += "\r\nRCPT TO:<alice@example.org>\r\nBDAT " + size;
        expected += " LAST\r\n";
        expected += c.data;
        EXPECT_EQ(client.send(message, c.body), expected) << "body \"" << c.body << "\"";
        // DATA sends the same message, stuffed and ended.
        Client plain;
        plain.piece_bytes = 1;
        make_ready(plain, {"PIPELINING", "SIZE 1000"});
        EXPECT_EQ(plain.send(message, c.body), "MAIL FROM:<bounces+t1@relay.test> SIZE=" + size +
                                                   "\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
        EXPECT_EQ(plain.receive("250 ok\r\n250 ok\r\n354 go\r\n"), c.data + ".\r\n");
    }
}

// ---- 421 and lost connections ---------------------------------------------------------------

TEST(ClientSessionFailure, ServerClosingMidTransaction) {
    Client client;
    make_ready(client, {"PIPELINING"});
    client.send(test_message({"a@example.org", "b@example.org", "c@example.org"}));
    client.receive("250 ok\r\n250 ok\r\n550 5.1.1 no b\r\n421 4.3.2 shutting down\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_FALSE(client.session.failure_permanent());
    EXPECT_EQ(client.session.failure(),
              "mx.example.net closed the session after RCPT TO: 421 4.3.2 shutting down");
    EXPECT_EQ(client.result_summaries(),
              (std::vector<std::string>{"421 4.3.2 shutting down", "550 5.1.1 no b",
                                        "421 4.3.2 shutting down"}));
    EXPECT_EQ(client.take(), "");
    client.session.connection_lost("closed");  // the driver's report changes nothing
    EXPECT_EQ(client.session.state(), State::failed);
}

TEST(ClientSessionFailure, ServerClosingAfterData) {
    Client client;
    make_ready(client, {});
    client.send(test_message());
    client.receive("250 ok\r\n");
    client.receive("250 ok\r\n");
    client.receive("354 go\r\n");
    client.receive("421 4.4.2 timeout\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_EQ(client.result_summaries(), std::vector<std::string>{"421 4.4.2 timeout"});
}

TEST(ClientSessionFailure, ServerClosingAnIdleSession) {
    Client client;
    make_ready(client, {});
    client.receive("421 4.4.2 idle too long\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_FALSE(client.session.take_result().has_value());
}

TEST(ClientSessionFailure, UnexpectedReplyWhileIdle) {
    Client client;
    make_ready(client, {});
    client.receive("250 surprise\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_NE(client.session.failure().find("unexpected reply 250 surprise"), std::string::npos);
}

TEST(ClientSessionFailure, MalformedReplyMidTransaction) {
    Client client;
    make_ready(client, {"PIPELINING"});
    client.send(test_message({"a@example.org", "b@example.org"}));
    client.receive("250 ok\r\n550 5.1.1 no a\r\nthis is not SMTP\r\n250 ok\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_EQ(client.result_summaries(),
              (std::vector<std::string>{
                  "550 5.1.1 no a", "451 4.5.0 protocol error with mx.example.net after RCPT TO"}));
}

TEST(ClientSessionFailure, WrongReplyClassIsAProtocolError) {
    Client client;
    make_ready(client, {});
    client.send(test_message());
    client.receive("354 what\r\n");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_EQ(
        client.result_summaries(),
        std::vector<std::string>{"451 4.5.0 protocol error with mx.example.net after MAIL FROM"});
}

// The connection breaks while the session waits for `step`'s reply; what each recipient gets.
struct LostCase {
    std::vector<std::string_view> server;  // replies before the loss
    std::string step;
    std::vector<std::string> expected;  // per recipient; empty: no transaction
};

class ConnectionLost : public ::testing::TestWithParam<LostCase> {};

TEST_P(ConnectionLost, PendingRecipientsGetATransientReply) {
    const LostCase& c = GetParam();
    Client client;
    make_ready(client, {});
    client.send(test_message({"a@example.org", "b@example.org"}));
    for (const std::string_view reply : c.server) {
        client.receive(reply);
    }
    ASSERT_EQ(client.session.state(), State::transaction);
    client.session.connection_lost("Connection reset by peer");
    EXPECT_EQ(client.session.state(), State::failed);
    EXPECT_FALSE(client.session.failure_permanent());
    EXPECT_EQ(client.session.failure(),
              "connection lost with mx.example.net after " + c.step + ": Connection reset by peer");
    EXPECT_EQ(client.session.waiting_for(), Wait::nothing);
    EXPECT_EQ(client.result_summaries(), c.expected);
}

const std::string lost_mail = "451 4.4.2 connection lost with mx.example.net after MAIL FROM";
const std::string lost_rcpt = "451 4.4.2 connection lost with mx.example.net after RCPT TO";
const std::string lost_data = "451 4.4.2 connection lost with mx.example.net after DATA";
const std::string lost_end = "451 4.4.2 connection lost with mx.example.net after end of data";

INSTANTIATE_TEST_SUITE_P(
    Steps, ConnectionLost,
    ::testing::Values(
        LostCase{{}, "MAIL FROM", {lost_mail, lost_mail}},
        LostCase{{"250 ok\r\n"}, "RCPT TO", {lost_rcpt, lost_rcpt}},
        LostCase{{"250 ok\r\n", "550 5.1.1 no a\r\n"}, "RCPT TO", {"550 5.1.1 no a", lost_rcpt}},
        LostCase{{"250 ok\r\n", "250 ok\r\n", "250 ok\r\n"}, "DATA", {lost_data, lost_data}},
        LostCase{{"250 ok\r\n", "250 ok\r\n", "550 5.1.1 no b\r\n"},
                 "DATA",
                 {lost_data, "550 5.1.1 no b"}},
        LostCase{{"250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n"},
                 "end of data",
                 {lost_end, lost_end}},
        LostCase{{"250 ok\r\n", "550 5.1.1 no a\r\n", "550 5.1.1 no b\r\n"},
                 "RSET",
                 {"550 5.1.1 no a", "550 5.1.1 no b"}}));

TEST(ClientSessionFailure, ConnectionLostBeforeTransactions) {
    {
        Client client;
        client.session.connection_lost("refused");
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_EQ(client.session.failure(), "connection lost before the greeting: refused");
    }
    {
        Client client;
        client.receive(greeting_220);
        client.session.connection_lost("reset");
        EXPECT_EQ(client.session.state(), State::failed);
        EXPECT_EQ(client.session.failure(),
                  "connection lost with mx.example.net after EHLO: reset");
    }
    {
        Client client;
        client.receive(greeting_220);
        client.receive(ehlo_reply({"STARTTLS"}));
        client.receive("220 go\r\n");
        client.session.connection_lost("reset");
        EXPECT_EQ(client.session.failure(),
                  "connection lost with mx.example.net after STARTTLS: reset");
    }
    {
        Client client;  // idle: the session just closes
        make_ready(client, {});
        client.session.connection_lost("closed");
        EXPECT_EQ(client.session.state(), State::closed);
    }
}

TEST(ClientSessionFailure, QuitDuringTransactionFinishesRecipients) {
    Client client;
    make_ready(client, {});
    client.send(test_message());
    client.session.quit();
    EXPECT_EQ(client.session.state(), State::closed);
    EXPECT_EQ(client.result_summaries(),
              std::vector<std::string>{
                  "451 4.3.0 delivery stopped by relay with mx.example.net after MAIL FROM"});
}

// ---- replies split at every octet ---------------------------------------------------------

// One step of a conversation: server bytes, or an action of the driver, then the exact bytes
// the client must have written.
struct Step {
    std::string server;
    std::function<void(ClientSession&)> action;
    std::string client;
};

std::vector<Step> pipelined_conversation() {
    static const OutboundMessage message = test_message({"a@example.org", "b@example.org"});
    auto send = [](ClientSession& session) { session.send(message); };
    auto tls = [](ClientSession& session) { session.tls_established(); };
    return {
        {"220-mx.example.net ESMTP\r\n220 hi\r\n", {}, "EHLO relay.test\r\n"},
        {ehlo_reply({"STARTTLS", "PIPELINING"}), {}, "STARTTLS\r\n"},
        {"220 2.0.0 ready\r\n", {}, ""},
        {"", tls, "EHLO relay.test\r\n"},
        {ehlo_reply({"PIPELINING", "AUTH PLAIN", "SIZE 1000"}),
         {},
         "AUTH PLAIN AHVzZXIAcGFzcw==\r\n"},
        {"235 2.7.0 ok\r\n", {}, ""},
        {"", send,
         "MAIL FROM:<bounces+t1@relay.test> SIZE=" + std::to_string(message_text.size()) +
             "\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"},
        {"250 2.1.0 ok\r\n250-2.1.5 ok\r\n250 2.1.5 really\r\n550 5.1.1 no b\r\n354 go\r\n",
         {},
         message_text + ".\r\n"},
        {"250 2.0.0 queued\r\n", {}, ""},
        {"", send,
         "MAIL FROM:<bounces+t1@relay.test> SIZE=" + std::to_string(message_text.size()) +
             "\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"},
        {"250 ok\r\n550 no a\r\n550 no b\r\n554 5.5.1 no valid recipients\r\n", {}, "RSET\r\n"},
        {"250 2.0.0 ok\r\n", {}, ""},
    };
}

// Runs the conversation, cutting each server step at `cut` (0: whole; > size: whole) or into
// single octets (`cut` < 0); returns the results in order.
std::vector<std::vector<std::string>> run(const std::vector<Step>& steps, int cut) {
    ClientSession session(auth_settings());
    std::vector<std::vector<std::string>> results;
    for (std::size_t index = 0; index < steps.size(); ++index) {
        const Step& step = steps[index];
        if (step.action) {
            step.action(session);
        }
        const std::string_view server = step.server;
        if (cut < 0) {
            for (const char c : server) {
                session.receive(std::string_view(&c, 1));
            }
        } else {
            const std::size_t at =
                std::min<std::size_t>(static_cast<std::size_t>(cut), server.size());
            session.receive(server.substr(0, at));
            session.receive(server.substr(at));
        }
        std::string out;
        out.swap(session.output());
        if (session.body_due()) {  // the body, cut like the replies
            out += stream_body(session, body_text, cut < 0 ? 1 : static_cast<std::size_t>(cut));
        }
        EXPECT_EQ(out, step.client) << "step " << index << ", cut " << cut;
        if (auto result = session.take_result()) {
            results.push_back(summaries(*result));
        }
    }
    EXPECT_EQ(session.state(), State::ready);
    return results;
}

TEST(ClientSessionSplit, EveryCutGivesTheSameConversation) {
    const std::vector<Step> steps = pipelined_conversation();
    const std::vector<std::vector<std::string>> expected = {{"250 2.0.0 queued", "550 5.1.1 no b"},
                                                            {"550 no a", "550 no b"}};
    EXPECT_EQ(run(steps, 0), expected);
    EXPECT_EQ(run(steps, -1), expected);
    std::size_t longest = 0;
    for (const Step& step : steps) {
        longest = std::max(longest, step.server.size());
    }
    for (std::size_t cut = 1; cut <= longest; ++cut) {
        EXPECT_EQ(run(steps, static_cast<int>(cut)), expected) << "cut " << cut;
    }
}

}  // namespace
}  // namespace relay::smtp
