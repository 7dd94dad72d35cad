// stream_test.cc -- the TLS stream adapter: two Streams joined by their wires, as a client and a
// server would be over a socket, and the server certificate's reload.
#include "relay/tls/stream.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "relay/tls/certificate.h"
#include "relay/tls/server_context.h"
#include "tls_test_support.h"

namespace relay::tls {
namespace {

using testing::ScratchFolder;

// What a handler was told, in order; and optionally what it answers to each piece of plaintext.
class Recorder final : public StreamHandler {
  public:
    void on_tls_established() override { ++established; }
    void on_tls_plaintext(std::span<char> plaintext) override {
        received.append(plaintext.data(), plaintext.size());
        ++pieces;
        if (answer && stream != nullptr) {
            EXPECT_TRUE(stream->write("ack:" + std::string(plaintext.data(), plaintext.size())));
        }
    }
    void on_tls_ended(State state, std::string_view why) override {
        ++ended;
        end_state = state;
        reason = std::string(why);
    }

    Stream* stream = nullptr;
    bool answer = false;
    int established = 0;
    int ended = 0;
    int pieces = 0;
    State end_state = State::handshaking;
    std::string reason;
    std::string received;
};

// A client and a server Stream whose wires are carried across by deliver(), in pieces of at
// most `piece_bytes` (as a socket might cut them).
struct Pair {
    Pair(const Context& client_context, const Context& server_context)
        : client(Session::client(client_context, "relay.test").value(), client_wire,
                 client_handler),
          server(Session::server(server_context).value(), server_wire, server_handler) {
        client_handler.stream = &client;
        server_handler.stream = &server;
    }

    // Carries both wires until both are empty. Returns the bytes carried.
    std::size_t deliver(std::size_t piece_bytes = 1 << 20) {
        std::size_t carried = 0;
        for (int round = 0; round < 10000; ++round) {
            if (client_wire.empty() && server_wire.empty()) {
                return carried;
            }
            carried += carry(client_wire, server, piece_bytes);
            carried += carry(server_wire, client, piece_bytes);
        }
        ADD_FAILURE() << "the wires never emptied";
        return carried;
    }

    static std::size_t carry(std::string& wire, Stream& to, std::size_t piece_bytes) {
        std::string moving;
        moving.swap(wire);  // the receiver may answer into its own wire meanwhile
        for (std::size_t offset = 0; offset < moving.size(); offset += piece_bytes) {
            std::size_t size = std::min(piece_bytes, moving.size() - offset);
            to.receive(std::span<const char>(moving.data() + offset, size));
        }
        return moving.size();
    }

    bool handshake(std::size_t piece_bytes = 1 << 20) {
        client.start();
        server.start();
        deliver(piece_bytes);
        return client.established() && server.established();
    }

    std::string client_wire;
    std::string server_wire;
    Recorder client_handler;
    Recorder server_handler;
    Stream client;
    Stream server;
};

class StreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(initialize());
        cert_ = folder_.file("cert.pem");
        key_ = folder_.file("key.pem");
        ASSERT_TRUE(generate_self_signed("relay.test", key_, cert_, 2));
        ServerConfig server;
        server.certificate_chain_path = cert_;
        server.private_key_path = key_;
        auto server_context = Context::server(server);
        ASSERT_TRUE(server_context) << server_context.error().message;
        server_.emplace(std::move(server_context.value()));
        ClientConfig client;
        client.verify = Verify::none;
        auto client_context = Context::client(client);
        ASSERT_TRUE(client_context) << client_context.error().message;
        client_.emplace(std::move(client_context.value()));
    }

    ScratchFolder folder_;
    std::string cert_;
    std::string key_;
    std::optional<Context> server_;
    std::optional<Context> client_;
};

TEST_F(StreamTest, HandshakeReportsEstablishedOnceOnEachSide) {
    Pair pair(*client_, *server_);
    ASSERT_TRUE(pair.handshake());
    EXPECT_EQ(pair.client_handler.established, 1);
    EXPECT_EQ(pair.server_handler.established, 1);
    EXPECT_EQ(pair.client.session().protocol_version(), "TLSv1.3");
    EXPECT_TRUE(pair.client.handshake_done());
    EXPECT_EQ(pair.client_handler.ended + pair.server_handler.ended, 0);
}

TEST_F(StreamTest, NothingIsWrittenBeforeTheHandshakeEnds) {
    Pair pair(*client_, *server_);
    pair.client.start();
    std::size_t hello = pair.client_wire.size();
    EXPECT_GT(hello, 0u) << "the ClientHello goes out at start";
    EXPECT_FALSE(pair.client.write("MAIL FROM:<a@example.com>\r\n"));
    EXPECT_FALSE(pair.server.write("220 hello\r\n"));
    EXPECT_EQ(pair.client_wire.size(), hello);
    EXPECT_TRUE(pair.server_wire.empty());
}

TEST_F(StreamTest, HandshakeAndDataSurviveOneByteReceives) {
    Pair pair(*client_, *server_);
    ASSERT_TRUE(pair.handshake(1));
    ASSERT_TRUE(pair.client.write("EHLO client.test\r\n"));
    pair.deliver(1);
    EXPECT_EQ(pair.server_handler.received, "EHLO client.test\r\n");
}

// Several MB each way in random cuts; answers written from inside the plaintext callback (as
// ingress does with its replies) arrive too.
TEST_F(StreamTest, LargePayloadArrivesByteExactBothWays) {
    Pair pair(*client_, *server_);
    ASSERT_TRUE(pair.handshake());
    std::mt19937 random(7);
    std::string payload(3 * 1024 * 1024 + 17, '\0');
    for (char& octet : payload) {
        octet = static_cast<char>(random());
    }
    ASSERT_TRUE(pair.client.write(payload));
    pair.deliver(4093);
    EXPECT_EQ(pair.server_handler.received.size(), payload.size());
    EXPECT_TRUE(pair.server_handler.received == payload);
    EXPECT_GT(pair.server_handler.pieces, 1) << "handed out record by record, not whole";

    pair.server_handler.answer = true;
    pair.server_handler.received.clear();
    ASSERT_TRUE(pair.client.write("NOOP\r\n"));
    pair.deliver();
    EXPECT_EQ(pair.client_handler.received, "ack:NOOP\r\n");
}

TEST_F(StreamTest, GarbageEndsTheServerStreamWithAReason) {
    Pair pair(*client_, *server_);
    pair.server.start();
    // A handshake record header, then bytes no handshake message starts with.
    const char bytes[] = "\x16\x03\x01\x00\x05hello this is not a TLS record at all";
    std::string garbage(bytes, sizeof bytes - 1);
    pair.server.receive(std::span<const char>(garbage.data(), garbage.size()));
    EXPECT_EQ(pair.server_handler.ended, 1);
    EXPECT_EQ(pair.server_handler.end_state, State::failed);
    EXPECT_NE(pair.server_handler.reason.find("TLS handshake failed"), std::string::npos)
        << pair.server_handler.reason;
    EXPECT_EQ(pair.server_handler.established, 0);
    EXPECT_FALSE(pair.server.handshake_done());
    // More bytes after the end are dropped, and the end is not reported again.
    pair.server.receive(std::span<const char>(garbage.data(), garbage.size()));
    EXPECT_EQ(pair.server_handler.ended, 1);
    EXPECT_TRUE(pair.server_handler.received.empty());
}

TEST_F(StreamTest, PlaintextSmtpOnATlsStreamFailsIt) {
    Pair pair(*client_, *server_);
    pair.server.start();
    std::string command = "EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n";
    pair.server.receive(std::span<const char>(command.data(), command.size()));
    EXPECT_EQ(pair.server_handler.end_state, State::failed);
    EXPECT_TRUE(pair.server_handler.received.empty());
}

TEST_F(StreamTest, CloseNotifyEndsThePeerAsClosed) {
    Pair pair(*client_, *server_);
    ASSERT_TRUE(pair.handshake());
    ASSERT_TRUE(pair.server.write("221 bye\r\n"));
    pair.server.close();
    EXPECT_FALSE(pair.server.write("more\r\n")) << "nothing goes out after close";
    pair.deliver();
    EXPECT_EQ(pair.client_handler.received, "221 bye\r\n");
    EXPECT_EQ(pair.client_handler.ended, 1);
    EXPECT_EQ(pair.client_handler.end_state, State::closed);
    EXPECT_TRUE(pair.client_handler.reason.empty());
    EXPECT_EQ(pair.server_handler.ended, 0) << "our own close is not reported back";
}

TEST_F(StreamTest, TamperedRecordAfterTheHandshakeFailsTheReader) {
    Pair pair(*client_, *server_);
    ASSERT_TRUE(pair.handshake());
    ASSERT_TRUE(pair.client.write("RSET\r\n"));
    pair.client_wire[pair.client_wire.size() - 3] ^= 0x40;
    pair.deliver();
    EXPECT_TRUE(pair.server_handler.received.empty());
    EXPECT_EQ(pair.server_handler.end_state, State::failed);
}

// ---- the server certificate's reload ---------------------------------------------------------

std::string peer_name(Pair& pair) {
    return std::string(pair.client.session().peer_common_name());
}

class ReloadTest : public StreamTest {
  protected:
    void SetUp() override {
        StreamTest::SetUp();
        ServerConfig config;
        config.certificate_chain_path = cert_;
        config.private_key_path = key_;
        auto slot = ServerContextSlot::load(config);
        ASSERT_TRUE(slot) << slot.error().message;
        slot_ = std::move(slot.value());
        ClientConfig client;
        client.verify = Verify::opportunistic;  // reports the server's name, never fails on it
        client_.emplace(std::move(Context::client(client).value()));
    }

    // Writes a new certificate for `host` over the configured files, as an operator would.
    void replace_files(const std::string& host) {
        ASSERT_TRUE(generate_self_signed(host, key_ + ".new", cert_ + ".new", 2));
        std::filesystem::rename(key_ + ".new", key_);
        std::filesystem::rename(cert_ + ".new", cert_);
    }

    std::unique_ptr<ServerContextSlot> slot_;
};

TEST_F(ReloadTest, NewHandshakesSeeTheNewCertificateOpenSessionsKeepWorking) {
    std::shared_ptr<const Context> first = slot_->current();
    Pair before(*client_, *first);
    ASSERT_TRUE(before.handshake());
    EXPECT_EQ(peer_name(before), "relay.test");
    first.reset();  // only the running session holds the old context now

    replace_files("renewed.test");
    Status reloaded = slot_->reload();
    ASSERT_TRUE(reloaded) << reloaded.error().message;
    EXPECT_EQ(slot_->generation(), 1u);

    Pair after(*client_, *slot_->current());
    ASSERT_TRUE(after.handshake());
    EXPECT_EQ(peer_name(after), "renewed.test");

    before.server_handler.answer = true;
    ASSERT_TRUE(before.client.write("NOOP\r\n"));
    before.deliver();
    EXPECT_EQ(before.client_handler.received, "ack:NOOP\r\n");
    EXPECT_EQ(before.client_handler.ended + before.server_handler.ended, 0);
}

TEST_F(ReloadTest, AFailedReloadKeepsTheCurrentCertificate) {
    replace_files("renewed.test");
    ASSERT_TRUE(slot_->reload());
    if (FILE* file = std::fopen(cert_.c_str(), "w")) {
        std::fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", file);
        std::fclose(file);
    }
    Status reloaded = slot_->reload();
    ASSERT_FALSE(reloaded);
    EXPECT_NE(reloaded.error().message.find(cert_), std::string::npos) << reloaded.error().message;
    EXPECT_EQ(slot_->generation(), 1u);
    Pair pair(*client_, *slot_->current());
    ASSERT_TRUE(pair.handshake());
    EXPECT_EQ(peer_name(pair), "renewed.test");
}

}  // namespace
}  // namespace relay::tls
