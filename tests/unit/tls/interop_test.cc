// interop_test.cc -- sessions against an independent TLS implementation: Debian's openssl
// s_server and s_client on 127.0.0.1, with the session pumped over a plain blocking socket.
//
// The sockets here block (with a receive timeout so that a broken exchange fails instead of
// hanging); the sessions themselves never see them.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tls_test_support.h"

extern char** environ;

namespace relay::tls {
namespace {

using testing::as_bytes;
using testing::read_file;

constexpr std::string_view host = "mx.relay.test";
constexpr auto child_wait_max = std::chrono::seconds(20);

// A child process with stdin and stdout redirected to files; killed if still running at the end.
class Child {
  public:
    Child(const std::vector<std::string>& arguments, const std::string& input_path,
          const std::string& output_path) {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, input_path.c_str(), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, output_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        std::vector<char*> argv;
        argv.reserve(arguments.size() + 1);
        for (const std::string& argument : arguments) {
            argv.push_back(const_cast<char*>(argument.c_str()));
        }
        argv.push_back(nullptr);
        int result = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        EXPECT_EQ(result, 0) << "cannot start " << arguments[0];
        if (result != 0) {
            pid_ = -1;
        }
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // The exit status, or -1 if it did not end in time (then it is killed).
    int wait() {
        auto deadline = std::chrono::steady_clock::now() + child_wait_max;
        while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return -1;
    }

  private:
    pid_t pid_ = -1;
};

void set_timeout(int descriptor) {
    timeval timeout{10, 0};
    ::setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

// Sends everything the session has produced.
bool flush(Session& session, int descriptor) {
    while (!session.output().empty()) {
        std::span<const std::byte> pending = session.output();
        ssize_t sent = ::send(descriptor, pending.data(), pending.size(), MSG_NOSIGNAL);
        if (sent <= 0) {
            return false;
        }
        session.consume_output(static_cast<std::size_t>(sent));
    }
    return true;
}

// Receives once and feeds it all. False on end of stream or error.
bool receive(Session& session, int descriptor) {
    std::byte buffer[4096];
    ssize_t received = ::recv(descriptor, buffer, sizeof(buffer), 0);
    if (received <= 0) {
        return false;
    }
    std::size_t fed = session.feed(std::span(buffer, static_cast<std::size_t>(received)));
    EXPECT_EQ(fed, static_cast<std::size_t>(received));
    return true;
}

bool handshake_over(Session& session, int descriptor) {
    for (int round = 0; round < 1000; ++round) {
        Progress progress = session.handshake();
        if (!flush(session, descriptor)) {
            return false;
        }
        if (progress == Progress::done) {
            return true;
        }
        if (progress != Progress::want_input && progress != Progress::want_output) {
            return false;
        }
        if (progress == Progress::want_input && !receive(session, descriptor)) {
            return false;
        }
    }
    return false;
}

// Reads plaintext until `text` ends with `suffix`, or the stream ends.
std::string read_until(Session& session, int descriptor, std::string_view suffix) {
    std::string text;
    std::byte buffer[1000];
    for (int round = 0; round < 1000 && !text.ends_with(suffix); ++round) {
        IoResult result = session.read(buffer);
        if (result.progress == Progress::done) {
            text.append(reinterpret_cast<const char*>(buffer), result.bytes);
        } else if (result.progress == Progress::want_input) {
            if (!flush(session, descriptor) || !receive(session, descriptor)) {
                break;
            }
        } else {
            break;
        }
    }
    return text;
}

class Interop : public ::testing::TestWithParam<Version> {
  protected:
    static void SetUpTestSuite() {
        folder_ = new testing::ScratchFolder();
        signed_ = new testing::SignedCertificate(testing::make_ca_signed(*folder_, host));
        empty_input_ = new std::string(folder_->file("empty"));
        testing::run_command("touch " + *empty_input_);
    }
    static void TearDownTestSuite() {
        delete empty_input_;
        delete signed_;
        delete folder_;
    }
    static std::string version_flag() {
        return GetParam() == Version::tls1_2 ? "-tls1_2" : "-tls1_3";
    }
    static std::string version_name() {
        return GetParam() == Version::tls1_2 ? "TLSv1.2" : "TLSv1.3";
    }

    static testing::ScratchFolder* folder_;
    static testing::SignedCertificate* signed_;
    static std::string* empty_input_;
};

testing::ScratchFolder* Interop::folder_ = nullptr;
testing::SignedCertificate* Interop::signed_ = nullptr;
std::string* Interop::empty_input_ = nullptr;

// Waits for s_server's "ACCEPT 127.0.0.1:PORT" line.
int accept_port(const std::string& log_path) {
    for (int i = 0; i < 500; ++i) {
        std::string log = read_file(log_path);
        std::size_t at = log.find("ACCEPT 127.0.0.1:");
        std::size_t end = log.find('\n', at);
        if (at != std::string::npos && end != std::string::npos) {
            return std::stoi(log.substr(at + 17, end - at - 17));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

int connect_to(int port) {
    int descriptor = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(descriptor, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(descriptor);
        return -1;
    }
    set_timeout(descriptor);
    return descriptor;
}

TEST_P(Interop, ClientSessionTalksToOpenSslServer) {
    std::string log = folder_->file("s_server.log");
    // -rev echoes each line reversed; -servername with -servername_fatal refuses a client whose
    // SNI is not ours, so the handshake succeeding shows the SNI went out.
    Child server(
        {"openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev", version_flag(),
         "-cert", signed_->cert, "-key", signed_->key, "-cert2", signed_->cert, "-key2",
         signed_->key, "-servername", std::string(host), "-servername_fatal"},
        *empty_input_, log);
    int port = accept_port(log);
    ASSERT_GT(port, 0) << read_file(log);

    ClientConfig config;
    config.verify = Verify::required;
    config.ca_file = signed_->ca_cert;
    auto context = Context::client(config);
    ASSERT_TRUE(context) << context.error().message;
    auto session = Session::client(*context, host);
    ASSERT_TRUE(session);
    int descriptor = connect_to(port);
    ASSERT_GE(descriptor, 0);

    ASSERT_TRUE(handshake_over(*session, descriptor)) << session->failure_reason() << "\n"
                                                      << read_file(log);
    EXPECT_EQ(session->protocol_version(), version_name());
    EXPECT_TRUE(session->peer_verified());
    EXPECT_EQ(session->peer_common_name(), host);

    ASSERT_EQ(session->write(as_bytes("hello relay\n")).progress, Progress::done);
    ASSERT_TRUE(flush(*session, descriptor));
    EXPECT_EQ(read_until(*session, descriptor, "\n"), "yaler olleh\n");

    EXPECT_EQ(session->shutdown(), Progress::done);
    EXPECT_TRUE(flush(*session, descriptor));
    ::close(descriptor);
    EXPECT_EQ(server.wait(), 0) << read_file(log);
    EXPECT_NE(read_file(log).find("Protocol version: " + version_name()), std::string::npos);
}

TEST_P(Interop, OpenSslClientTalksToServerSession) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    int port = ntohs(address.sin_port);

    std::string input = folder_->file("client.in"), log = folder_->file("s_client.log");
    ASSERT_EQ(testing::run_command("printf 'EHLO client.example\\n' > " + input), 0);
    // -verify_return_error: OpenSSL must accept the chain and the host name.
    Child client({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                  version_flag(), "-servername", std::string(host), "-verify_hostname",
                  std::string(host), "-CAfile", signed_->ca_cert, "-verify_return_error", "-quiet"},
                 input, log);
    set_timeout(listener);
    int descriptor = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(listener);
    ASSERT_GE(descriptor, 0);
    set_timeout(descriptor);

    ServerConfig config;
    config.certificate_chain_path = signed_->cert;
    config.private_key_path = signed_->key;
    auto context = Context::server(config);
    ASSERT_TRUE(context) << context.error().message;
    auto session = Session::server(*context);
    ASSERT_TRUE(session);
    ASSERT_TRUE(handshake_over(*session, descriptor)) << session->failure_reason() << "\n"
                                                      << read_file(log);
    EXPECT_EQ(session->protocol_version(), version_name());

    EXPECT_EQ(read_until(*session, descriptor, "\n"), "EHLO client.example\n");
    std::string reply = "250 relay.test greets client.example\n";
    ASSERT_EQ(session->write(as_bytes(reply)).progress, Progress::done);
    EXPECT_EQ(session->shutdown(), Progress::done);
    EXPECT_TRUE(flush(*session, descriptor));
    ::close(descriptor);
    EXPECT_EQ(client.wait(), 0) << read_file(log);
    EXPECT_NE(read_file(log).find(reply), std::string::npos) << read_file(log);
}

INSTANTIATE_TEST_SUITE_P(Versions, Interop, ::testing::Values(Version::tls1_2, Version::tls1_3),
                         [](const auto& info) {
                             return info.param == Version::tls1_2 ? "tls1_2" : "tls1_3";
                         });

// OpenSSL accepts the certificate relayd writes on its first start, trusting nothing else.
TEST(InteropSelfSigned, OpenSslVerifiesTheGeneratedCertificate) {
    testing::ScratchFolder folder;
    std::string key = folder.file("k.pem"), cert = folder.file("c.pem");
    ASSERT_TRUE(generate_self_signed("relay.localhost", key, cert, 1));
    ServerConfig config;
    config.certificate_chain_path = cert;
    config.private_key_path = key;
    auto context = Context::server(config);
    ASSERT_TRUE(context) << context.error().message;

    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
    std::string empty = folder.file("empty"), log = folder.file("s_client.log");
    ASSERT_EQ(testing::run_command("touch " + empty), 0);
    Child client(
        {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(ntohs(address.sin_port)),
         "-servername", "relay.localhost", "-verify_hostname", "relay.localhost", "-CAfile", cert,
         "-verify_return_error", "-quiet"},
        empty, log);
    set_timeout(listener);
    int descriptor = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(listener);
    ASSERT_GE(descriptor, 0);
    set_timeout(descriptor);
    auto session = Session::server(*context);
    ASSERT_TRUE(session);
    ASSERT_TRUE(handshake_over(*session, descriptor)) << session->failure_reason();
    ASSERT_EQ(session->write(as_bytes("220 ready\n")).progress, Progress::done);
    EXPECT_EQ(session->shutdown(), Progress::done);
    EXPECT_TRUE(flush(*session, descriptor));
    ::close(descriptor);
    EXPECT_EQ(client.wait(), 0) << read_file(log);
    EXPECT_NE(read_file(log).find("220 ready"), std::string::npos) << read_file(log);
}

}  // namespace
}  // namespace relay::tls
