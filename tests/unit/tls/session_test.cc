// session_test.cc -- client and server sessions talking through memory: handshakes, data both
// ways, verification policies, close_notify, and garbage input.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <thread>

#include "tls_test_support.h"

namespace relay::tls {
namespace {

using testing::as_bytes;
using testing::pump_handshake;
using testing::read_available;
using testing::transfer;

constexpr std::string_view host = "mx.relay.test";

class SessionTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        folder_ = new testing::ScratchFolder();
        signed_ = new testing::SignedCertificate(testing::make_ca_signed(*folder_, host));
        // A certificate of the same name from another issuer: a CA that did not sign the
        // server's certificate.
        other_ca_ = new std::string(folder_->file("other-ca.pem"));
        ASSERT_TRUE(generate_self_signed(host, folder_->file("other-ca.key"), *other_ca_, 2));
    }
    static void TearDownTestSuite() {
        delete other_ca_;
        delete signed_;
        delete folder_;
    }

    static Context server_context(Version version_min = Version::tls1_2,
                                  Version version_max = Version::tls1_3) {
        ServerConfig config;
        config.certificate_chain_path = signed_->cert;
        config.private_key_path = signed_->key;
        config.version_min = version_min;
        config.version_max = version_max;
        auto context = Context::server(config);
        EXPECT_TRUE(context) << context.error().message;
        return std::move(context).value();
    }

    static Context client_context(Verify verify, const std::string& ca_file,
                                  Version version_max = Version::tls1_3) {
        ClientConfig config;
        config.verify = verify;
        config.ca_file = ca_file;
        config.version_max = version_max;
        auto context = Context::client(config);
        EXPECT_TRUE(context) << context.error().message;
        return std::move(context).value();
    }

    static Session server_session(const Context& context) {
        auto session = Session::server(context);
        EXPECT_TRUE(session) << session.error().message;
        return std::move(session).value();
    }

    static Session client_session(const Context& context, std::string_view name = host) {
        auto session = Session::client(context, name);
        EXPECT_TRUE(session) << session.error().message;
        return std::move(session).value();
    }

    static testing::ScratchFolder* folder_;
    static testing::SignedCertificate* signed_;
    static std::string* other_ca_;
};

testing::ScratchFolder* SessionTest::folder_ = nullptr;
testing::SignedCertificate* SessionTest::signed_ = nullptr;
std::string* SessionTest::other_ca_ = nullptr;

TEST_F(SessionTest, Tls13HandshakeVerifiesAndReportsTheSession) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::required, signed_->ca_cert);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);
    EXPECT_EQ(client.state(), State::handshaking);

    ASSERT_TRUE(pump_handshake(client, server))
        << client.failure_reason() << " / " << server.failure_reason();
    EXPECT_EQ(client.state(), State::established);
    EXPECT_EQ(server.state(), State::established);
    EXPECT_EQ(client.protocol_version(), "TLSv1.3");
    EXPECT_EQ(server.protocol_version(), "TLSv1.3");
    EXPECT_EQ(client.cipher_name(), server.cipher_name());
    EXPECT_TRUE(client.cipher_name().starts_with("TLS_AES_")) << client.cipher_name();
    EXPECT_TRUE(client.peer_verified());
    EXPECT_EQ(client.verify_failure(), "");
    EXPECT_EQ(client.peer_common_name(), host);
    EXPECT_FALSE(server.peer_verified());
    EXPECT_EQ(server.peer_common_name(), "");
    EXPECT_EQ(client.failure_reason(), "");
}

TEST_F(SessionTest, Tls12HandshakeWhenTheClientCapsTheVersion) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::required, signed_->ca_cert, Version::tls1_2);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);

    ASSERT_TRUE(pump_handshake(client, server)) << client.failure_reason();
    EXPECT_EQ(client.protocol_version(), "TLSv1.2");
    EXPECT_EQ(server.protocol_version(), "TLSv1.2");
    // Forward secret AEAD with the server's ECDSA key.
    EXPECT_TRUE(server.cipher_name().starts_with("TLS_ECDHE_ECDSA_WITH_")) << server.cipher_name();
    EXPECT_NE(server.cipher_name().find("GCM"), std::string_view::npos) << server.cipher_name();
    EXPECT_TRUE(client.peer_verified());
}

TEST_F(SessionTest, NoCommonVersionFailsBothSidesWithAReason) {
    Context server_ctx = server_context(Version::tls1_3, Version::tls1_3);
    Context client_ctx = client_context(Verify::none, "", Version::tls1_2);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);

    EXPECT_FALSE(pump_handshake(client, server));
    EXPECT_EQ(server.state(), State::failed);
    EXPECT_EQ(client.state(), State::failed);
    EXPECT_TRUE(server.failure_reason().starts_with("TLS handshake failed: "))
        << server.failure_reason();
    EXPECT_TRUE(client.failure_reason().starts_with("TLS handshake failed: "))
        << client.failure_reason();
}

class PayloadTest : public SessionTest, public ::testing::WithParamInterface<Version> {};

// 1 MiB each way at once, written and read in odd-sized pieces, through buffers far smaller
// than the payload: exercises write() stopping on a full output and feed() taking part.
TEST_P(PayloadTest, OneMebibyteEachWayInOddPieces) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::none, "", GetParam());
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);
    ASSERT_TRUE(pump_handshake(client, server));

    std::mt19937 random(42);
    auto make_payload = [&random] {
        std::string payload(1 << 20, '\0');
        std::generate(payload.begin(), payload.end(), [&random] { return char(random()); });
        return payload;
    };
    const std::string upstream = make_payload();
    const std::string downstream = make_payload();
    const std::size_t write_pieces[] = {1, 7, 1000, 4097, 16383, 16385, 65537, 333};
    std::size_t client_sent = 0, server_sent = 0, round = 0;
    std::string server_got, client_got;
    constexpr std::size_t rounds_max = 100000;
    while ((server_got.size() < upstream.size() || client_got.size() < downstream.size()) &&
           round < rounds_max) {
        std::size_t piece = write_pieces[round++ % std::size(write_pieces)];
        if (client_sent < upstream.size()) {
            auto chunk = as_bytes(upstream).subspan(client_sent);
            IoResult written = client.write(chunk.first(std::min(piece, chunk.size())));
            ASSERT_NE(written.progress, Progress::failed) << client.failure_reason();
            client_sent += written.bytes;
        }
        if (server_sent < downstream.size()) {
            auto chunk = as_bytes(downstream).subspan(server_sent);
            IoResult written = server.write(chunk.first(std::min(piece + 11, chunk.size())));
            ASSERT_NE(written.progress, Progress::failed) << server.failure_reason();
            server_sent += written.bytes;
        }
        transfer(client, server);
        transfer(server, client);
        ASSERT_EQ(read_available(server, server_got, 3001), Progress::want_input)
            << server.failure_reason();
        ASSERT_EQ(read_available(client, client_got, 777), Progress::want_input)
            << client.failure_reason();
    }
    EXPECT_TRUE(server_got == upstream) << "server got " << server_got.size() << " bytes";
    EXPECT_TRUE(client_got == downstream) << "client got " << client_got.size() << " bytes";
    // Once drained, nothing stays allocated in the session's own buffers.
    EXPECT_EQ(client.buffered_bytes(), 0u);
    EXPECT_EQ(server.buffered_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Versions, PayloadTest, ::testing::Values(Version::tls1_2, Version::tls1_3),
                         [](const auto& info) {
                             return info.param == Version::tls1_2 ? "tls1_2" : "tls1_3";
                         });

TEST_F(SessionTest, WriteStopsAtTheOutputLimitAndResumesAfterADrain) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::none, "");
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);
    ASSERT_TRUE(pump_handshake(client, server));

    std::string payload(200 * 1024, 'x');
    IoResult first = client.write(as_bytes(payload));
    EXPECT_EQ(first.progress, Progress::want_output);
    EXPECT_GT(first.bytes, 0u);
    EXPECT_LT(first.bytes, payload.size());
    EXPECT_LE(client.output().size(), BufferLimits{}.output_bytes_max);
    // Without a drain, nothing more fits.
    IoResult stuck = client.write(as_bytes(payload).subspan(first.bytes));
    EXPECT_EQ(stuck.bytes, 0u);
    EXPECT_EQ(stuck.progress, Progress::want_output);
    // The pending bytes do not move while more is written after a partial drain.
    std::span<const std::byte> pending = client.output();
    std::vector<std::byte> snapshot(pending.begin(), pending.end());
    std::size_t taken = server.feed(pending.first(5000));
    ASSERT_EQ(taken, 5000u);
    client.consume_output(taken);
    EXPECT_TRUE(std::equal(snapshot.begin() + 5000, snapshot.end(), client.output().begin()));
}

TEST_F(SessionTest, FeedTakesNoMoreThanTheInputLimit) {
    Context server_ctx = server_context();
    Session server = server_session(server_ctx);
    std::string flood(100 * 1024, '\x16');
    EXPECT_EQ(server.feed(as_bytes(flood)), BufferLimits{}.input_bytes_max);
    EXPECT_EQ(server.input_room_bytes(), 0u);
    EXPECT_EQ(server.feed(as_bytes(flood)), 0u);
}

TEST_F(SessionTest, RequiredFailsAgainstACaThatDidNotSignTheCertificate) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::required, *other_ca_);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);

    EXPECT_FALSE(pump_handshake(client, server));
    EXPECT_EQ(client.state(), State::failed);
    EXPECT_EQ(client.failure_reason(),
              "certificate verify failed: unable to get local issuer certificate"
              " (depth 0, CN=mx.relay.test)");
    EXPECT_FALSE(client.peer_verified());
    // The client told the server why it hung up.
    EXPECT_EQ(server.state(), State::failed);
    EXPECT_EQ(server.failure_reason(), "TLS handshake failed: peer sent alert unknown_ca");
}

TEST_F(SessionTest, RequiredFailsOnAHostNameMismatch) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::required, signed_->ca_cert);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx, "other.relay.test");

    EXPECT_FALSE(pump_handshake(client, server));
    EXPECT_EQ(client.failure_reason(),
              "certificate verify failed: host name mismatch (depth 0, CN=mx.relay.test)");
}

TEST_F(SessionTest, AnAddressIsCheckedAgainstTheAddressEntries) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::required, signed_->ca_cert);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx, "192.0.2.7");
    ASSERT_TRUE(pump_handshake(client, server)) << client.failure_reason();
    EXPECT_TRUE(client.peer_verified());

    Session other_server = server_session(server_ctx);
    Session other_client = client_session(client_ctx, "192.0.2.8");
    EXPECT_FALSE(pump_handshake(other_client, other_server));
    EXPECT_EQ(other_client.failure_reason(),
              "certificate verify failed: IP address mismatch (depth 0, CN=mx.relay.test)");
}

TEST_F(SessionTest, NoneSucceedsWithoutVerifying) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::none, *other_ca_);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx, "whatever.example");

    ASSERT_TRUE(pump_handshake(client, server)) << client.failure_reason();
    EXPECT_FALSE(client.peer_verified());
    EXPECT_EQ(client.verify_failure(), "");
    EXPECT_EQ(client.peer_common_name(), host);
}

TEST_F(SessionTest, OpportunisticSucceedsAndReportsNotVerified) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::opportunistic, *other_ca_);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);

    ASSERT_TRUE(pump_handshake(client, server)) << client.failure_reason();
    EXPECT_EQ(client.state(), State::established);
    EXPECT_FALSE(client.peer_verified());
    EXPECT_EQ(client.verify_failure(),
              "unable to get local issuer certificate (depth 0, CN=mx.relay.test)");
}

TEST_F(SessionTest, OpportunisticReportsAHostNameMismatch) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::opportunistic, signed_->ca_cert);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx, "other.relay.test");

    ASSERT_TRUE(pump_handshake(client, server)) << client.failure_reason();
    EXPECT_FALSE(client.peer_verified());
    EXPECT_EQ(client.verify_failure(), "host name mismatch (depth 0, CN=mx.relay.test)");
}

TEST_F(SessionTest, OpportunisticWithTheRightCaVerifies) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::opportunistic, signed_->ca_cert);
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);

    ASSERT_TRUE(pump_handshake(client, server));
    EXPECT_TRUE(client.peer_verified());
    EXPECT_EQ(client.verify_failure(), "");
}

TEST_F(SessionTest, CloseNotifyEndsBothSides) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::none, "");
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);
    ASSERT_TRUE(pump_handshake(client, server));

    ASSERT_EQ(client.write(as_bytes("QUIT\r\n")).progress, Progress::done);
    EXPECT_EQ(client.shutdown(), Progress::done);
    EXPECT_EQ(client.state(), State::closed);
    EXPECT_FALSE(client.output().empty());  // the data and the close_notify alert
    transfer(client, server);

    std::string got;
    EXPECT_EQ(read_available(server, got, 100), Progress::closed);
    EXPECT_EQ(got, "QUIT\r\n");
    EXPECT_EQ(server.state(), State::closed);
    EXPECT_EQ(server.write(as_bytes("late")).progress, Progress::closed);
    // Answer with our own close_notify, as RFC 8446 section 6.1 asks.
    EXPECT_EQ(server.shutdown(), Progress::done);
    EXPECT_FALSE(server.output().empty());
    EXPECT_EQ(server.shutdown(), Progress::done);  // once is enough
    EXPECT_EQ(client.failure_reason(), "");
    EXPECT_EQ(server.failure_reason(), "");
}

TEST_F(SessionTest, GarbageFailsAServerSessionCleanly) {
    Context server_ctx = server_context();
    std::mt19937 random(7);
    std::string noise(4096, '\0');
    std::generate(noise.begin(), noise.end(), [&random] { return char(random()); });
    const std::string inputs[] = {
        "EHLO client.example\r\n",                       // plaintext SMTP on a TLS port
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",             // the wrong protocol
        std::string(64, '\0'),                           // zeros
        noise,                                           // random bytes
        std::string("\x16\x03\x01\xff\xff", 5) + noise,  // a handshake record claiming 64 KiB
        std::string("\x16\x03\x03\x00\x04\x01\x00\x00\x00", 9),  // an empty ClientHello
    };
    for (const std::string& input : inputs) {
        Session server = server_session(server_ctx);
        std::size_t offset = 0;
        Progress progress = Progress::want_input;
        for (int i = 0; i < 100 && progress == Progress::want_input && offset < input.size(); ++i) {
            offset += server.feed(as_bytes(input).subspan(offset));
            progress = server.handshake();
        }
        EXPECT_EQ(progress, Progress::failed) << "input of " << input.size() << " bytes";
        EXPECT_EQ(server.state(), State::failed);
        EXPECT_TRUE(server.failure_reason().starts_with("TLS handshake failed: "))
            << server.failure_reason();
        // After a failure the session drops input instead of stalling its caller.
        EXPECT_EQ(server.feed(as_bytes(input)), input.size());
        EXPECT_EQ(server.handshake(), Progress::failed);
    }
}

TEST_F(SessionTest, RandomBytesFailEitherSideCleanly) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::required, signed_->ca_cert);
    std::mt19937 random(2024);
    for (int seed = 0; seed < 300; ++seed) {
        std::string noise(1 + random() % 20000, '\0');
        std::generate(noise.begin(), noise.end(), [&random] { return char(random()); });
        if (seed % 3 == 0) {
            noise[0] = '\x16';  // a handshake record type, so the header parse gets further
            noise[1] = '\x03';
        }
        Session server = server_session(server_ctx);
        Session client = client_session(client_ctx);
        (void)client.handshake();  // the ClientHello, which the garbage then "answers"
        for (Session* session : {&server, &client}) {
            std::size_t offset = 0;
            Progress progress = Progress::want_input;
            for (int i = 0; i < 100 && progress == Progress::want_input; ++i) {
                offset += session->feed(std::span(as_bytes(noise)).subspan(offset));
                progress = session->handshake();
                if (offset == noise.size()) {
                    break;
                }
            }
            // Either it still waits for the rest of a record or it failed; never established.
            EXPECT_NE(session->state(), State::established);
            if (session->state() == State::failed) {
                EXPECT_FALSE(session->failure_reason().empty());
            }
        }
    }
}

TEST_F(SessionTest, TamperedRecordFailsTheSession) {
    Context server_ctx = server_context();
    Context client_ctx = client_context(Verify::none, "");
    Session server = server_session(server_ctx);
    Session client = client_session(client_ctx);
    ASSERT_TRUE(pump_handshake(client, server));

    ASSERT_EQ(client.write(as_bytes("MAIL FROM:<a@example.com>\r\n")).progress, Progress::done);
    std::vector<std::byte> record(client.output().begin(), client.output().end());
    client.consume_output(record.size());
    record[record.size() / 2] ^= std::byte{0x20};
    ASSERT_EQ(server.feed(record), record.size());
    std::string got;
    EXPECT_EQ(read_available(server, got, 100), Progress::failed);
    EXPECT_EQ(got, "");
    EXPECT_TRUE(server.failure_reason().starts_with("TLS failed: ")) << server.failure_reason();
}

TEST_F(SessionTest, ClientSessionRejectsBadHostNames) {
    Context required = client_context(Verify::required, signed_->ca_cert);
    auto empty = Session::client(required, "");
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().message, "TLS verification is required but no host name was given");
    auto bad = Session::client(required, "mx.example.com\r\nRCPT TO:<x>");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message.find('\r'), std::string::npos);
    // A trailing dot is fine and not part of the name that is checked.
    Context server_ctx = server_context();
    Session server = server_session(server_ctx);
    Session client = client_session(required, "mx.relay.test.");
    ASSERT_TRUE(pump_handshake(client, server)) << client.failure_reason();
    EXPECT_TRUE(client.peer_verified());
}

TEST_F(SessionTest, ContextErrorsNameWhatIsWrong) {
    ServerConfig missing;
    missing.certificate_chain_path = folder_->file("absent.pem");
    missing.private_key_path = signed_->key;
    auto no_file = Context::server(missing);
    ASSERT_FALSE(no_file);
    EXPECT_EQ(no_file.error().message, "cannot read TLS certificate " +
                                           missing.certificate_chain_path +
                                           ": No such file or directory");

    ServerConfig mismatched;
    mismatched.certificate_chain_path = signed_->cert;
    mismatched.private_key_path = folder_->file("other-ca.key");
    auto mismatch = Context::server(mismatched);
    ASSERT_FALSE(mismatch);
    EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos)
        << mismatch.error().message;

    ServerConfig not_pem;
    not_pem.certificate_chain_path = folder_->file("server.ext");
    not_pem.private_key_path = signed_->key;
    auto garbage = Context::server(not_pem);
    ASSERT_FALSE(garbage);
    EXPECT_TRUE(garbage.error().message.starts_with("cannot load TLS certificate "))
        << garbage.error().message;

    ServerConfig tiny = mismatched;
    tiny.limits.output_bytes_max = 1024;
    auto too_small = Context::server(tiny);
    ASSERT_FALSE(too_small);
    EXPECT_TRUE(too_small.error().message.starts_with("TLS output buffer limit must be"));

    ClientConfig inverted;
    inverted.verify = Verify::none;
    inverted.version_min = Version::tls1_3;
    inverted.version_max = Version::tls1_2;
    EXPECT_FALSE(Context::client(inverted));
}

TEST_F(SessionTest, CaSettingsThatDoNotLoadAreErrors) {
    ClientConfig garbage;
    garbage.ca_file = folder_->file("server.ext");
    auto bad_file = Context::client(garbage);
    ASSERT_FALSE(bad_file);
    EXPECT_TRUE(bad_file.error().message.starts_with("cannot load TLS CA certificates from " +
                                                     garbage.ca_file))
        << bad_file.error().message;

    ClientConfig absent;
    absent.ca_directory = folder_->file("no-such-dir");
    auto no_directory = Context::client(absent);
    ASSERT_FALSE(no_directory);
    EXPECT_EQ(no_directory.error().message, "cannot read TLS CA directory " + absent.ca_directory +
                                                ": No such file or directory");

    // Under Verify::none nothing is loaded, so nothing can fail.
    absent.verify = Verify::none;
    EXPECT_TRUE(Context::client(absent));
}

TEST_F(SessionTest, SystemStoreLoadsAndDoesNotTrustAPrivateCa) {
    ClientConfig config;  // both CA settings empty: the system store
    config.verify = Verify::opportunistic;
    auto context = Context::client(config);
    ASSERT_TRUE(context) << context.error().message;
    Context server_ctx = server_context();
    Session server = server_session(server_ctx);
    Session client = client_session(*context);
    ASSERT_TRUE(pump_handshake(client, server));
    EXPECT_FALSE(client.peer_verified());
    EXPECT_TRUE(client.verify_failure().starts_with("unable to get local issuer certificate"))
        << client.verify_failure();
}

// Workers each run their own sessions; the server context is shared by all of them.
TEST_F(SessionTest, SessionsRunOnSeveralThreadsAtOnce) {
    Context server_ctx = server_context();
    constexpr int threads_count = 4;
    constexpr int sessions_per_thread = 20;
    std::vector<int> completed(threads_count, 0);
    std::vector<std::thread> threads;
    threads.reserve(threads_count);
    for (int t = 0; t < threads_count; ++t) {
        threads.emplace_back([&, t] {
            Context client_ctx = client_context(Verify::required, signed_->ca_cert,
                                                t % 2 == 0 ? Version::tls1_3 : Version::tls1_2);
            for (int i = 0; i < sessions_per_thread; ++i) {
                Session server = server_session(server_ctx);
                Session client = client_session(client_ctx);
                if (!pump_handshake(client, server) || !client.peer_verified()) {
                    return;
                }
                std::string line =
                    "thread " + std::to_string(t) + " message " + std::to_string(i) + "\r\n";
                if (client.write(as_bytes(line)).progress != Progress::done) {
                    return;
                }
                transfer(client, server);
                std::string got;
                if (read_available(server, got, 64) != Progress::want_input || got != line) {
                    return;
                }
                ++completed[t];
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    for (int t = 0; t < threads_count; ++t) {
        EXPECT_EQ(completed[t], sessions_per_thread) << "thread " << t;
    }
}

TEST_F(SessionTest, ContextMayDieBeforeItsSessions) {
    std::optional<Session> server, client;
    {
        Context server_ctx = server_context();
        Context client_ctx = client_context(Verify::required, signed_->ca_cert);
        server.emplace(server_session(server_ctx));
        client.emplace(client_session(client_ctx));
    }
    ASSERT_TRUE(pump_handshake(*client, *server));
    EXPECT_TRUE(client->peer_verified());
}

}  // namespace
}  // namespace relay::tls
