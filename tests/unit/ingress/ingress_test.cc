// The ingress driver on a real reactor, a real spool and real loopback sockets: a client
// thread speaks SMTP with blocking sockets while the test's thread runs the worker's loop.
// What is checked is what a client or an operator sees: replies, messages in the queue,
// connections refused above the limits and admitted again once others have closed.
#include "relay/ingress/ingress.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "relay/engine/reactor.h"
#include "relay/spool/recovery.h"
#include "relay/spool/worker_spool.h"

namespace relay::ingress {
namespace {

// A port nobody listens on right now (loopback only).
std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ADD_FAILURE() << "no free port";
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

// A blocking SMTP client for the client thread: one reply at a time, multi-line replies whole.
class Client {
  public:
    explicit Client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval timeout{10, 0};
        (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }

    // The next whole reply ("250-...\r\n250 ...\r\n"), or "" when the connection ended first.
    std::string reply() {
        while (true) {
            std::size_t at = 0;
            while (true) {
                std::size_t end = input_.find("\r\n", at);
                if (end == std::string::npos) {
                    break;
                }
                if (end - at >= 4 && input_[at + 3] == ' ') {
                    std::string whole = input_.substr(0, end + 2);
                    input_.erase(0, end + 2);
                    return whole;
                }
                at = end + 2;
            }
            char buffer[4096];
            ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
            if (got <= 0) {
                return {};
            }
            input_.append(buffer, static_cast<std::size_t>(got));
        }
    }
    // Sends `line` and returns the reply to it.
    std::string command(const std::string& line) {
        send(line);
        return reply();
    }
    void send(const std::string& bytes) {
        (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    // True when the server closed the connection (end of stream, nothing more to read).
    bool closed_by_server() {
        char byte = 0;
        return input_.empty() && ::recv(fd_, &byte, 1, 0) == 0;
    }

  private:
    int fd_ = -1;
    bool connected_ = false;
    std::string input_;
};

// One whole non-pipelined transaction on its own connection, as a sendmail wrapper sends.
// Returns the reply to the end of the data ("" if the session broke before).
std::string send_one_message(std::uint16_t port, int index) {
    Client client(port);
    if (!client.connected() || client.reply().rfind("220 ", 0) != 0 ||
        client.command("EHLO client.test\r\n").rfind("250", 0) != 0 ||
        client.command("MAIL FROM:<sender@example.com>\r\n").rfind("250 ", 0) != 0 ||
        client.command("RCPT TO:<rcpt@example.net>\r\n").rfind("250 ", 0) != 0 ||
        client.command("DATA\r\n").rfind("354 ", 0) != 0) {
        return {};
    }
    std::string body =
        "From: sender@example.com\r\nTo: rcpt@example.net\r\nSubject: " + std::to_string(index) +
        "\r\n\r\nHello.\r\n.\r\n";
    std::string done = client.command(body);
    if (client.command("QUIT\r\n").rfind("221 ", 0) != 0 || !client.closed_by_server()) {
        return {};
    }
    return done;
}

class IngressTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-ingress-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        std::filesystem::create_directories(root_ / "segments");
        auto reactor = engine::Reactor::create(0, engine::ReactorOptions{256, 64, 4096});
        ASSERT_TRUE(reactor) << reactor.error().message;
        reactor_ = std::move(reactor.value());
        auto recovered = spool::recover((root_ / "segments").string(), false);
        ASSERT_TRUE(recovered) << recovered.error().message;
        sequence_ = recovered->next_sequence;
        spool::SpoolOptions options{(root_ / "segments").string(), 64 << 20, 1 << 20, 16 << 20};
        spool_ = std::make_unique<spool::WorkerSpool>(*reactor_, 0, options, sequence_,
                                                      recovered->largest_queue_id);
        Status opened = spool_->open(recovered->segments, std::move(recovered->messages));
        ASSERT_TRUE(opened) << opened.error().message;

        port_ = free_port();
        config_.server.hostname = "relay.test";
        config::Listener listener;
        listener.name = "test";
        listener.address = engine::SocketAddress::from_ip("127.0.0.1", port_).value();
        config_.listeners.push_back(listener);
    }
    void TearDown() override {
        if (ingress_) {
            bool stopped = false;
            ingress_->shutdown([&] { stopped = true; });
            run_until([&] { return stopped; });
        }
        ingress_.reset();
        limits_.reset();
        spool_.reset();
        reactor_.reset();
        std::filesystem::remove_all(root_);
    }

    void start(std::uint32_t connections_max, std::uint32_t per_client_max) {
        config_.limits.connections_max = connections_max;
        config_.limits.connections_per_client_max = per_client_max;
        limits_ = std::make_unique<ConnectionLimits>(connections_max, per_client_max);
        ingress_ = std::make_unique<Ingress>(*reactor_, config_, *spool_, *limits_);
        Status listening = ingress_->listen();
        ASSERT_TRUE(listening) << listening.error().message;
    }

    // Runs the worker's loop until `done` holds (checked every millisecond); fails after 20 s.
    void run_until(const std::function<bool()>& done) {
        auto deadline = engine::Clock::now() + std::chrono::seconds(20);
        std::function<void()> check = [&] {
            if (done() || engine::Clock::now() > deadline) {
                reactor_->stop();
                return;
            }
            reactor_->timers().add(reactor_->now() + std::chrono::milliseconds(1), check);
        };
        reactor_->defer(check);
        reactor_->run();
        ASSERT_TRUE(done()) << "condition not reached in time";
    }

    // Runs `client` on its own thread while the loop runs here, until it returns.
    void run_client(const std::function<void()>& client) {
        std::atomic<bool> finished{false};
        std::thread thread([&] {
            client();
            finished = true;
        });
        run_until([&] { return finished.load(); });
        thread.join();
    }

    std::filesystem::path root_;
    std::unique_ptr<engine::Reactor> reactor_;
    std::atomic<std::uint64_t> sequence_{1};
    std::unique_ptr<spool::WorkerSpool> spool_;
    config::Config config_;
    std::uint16_t port_ = 0;
    std::unique_ptr<ConnectionLimits> limits_;
    std::unique_ptr<Ingress> ingress_;
};

// The connection-per-message pattern: every connection is greeted, its message queued before
// its 250, its QUIT answered and the connection closed; afterwards no session and no counted
// connection is left behind.
TEST_F(IngressTest, ConnectionPerMessageQueuesEveryMessageAndLeavesNothingBehind) {
    start(100, 10);
    constexpr int messages = 200;
    std::vector<std::string> replies(messages);
    run_client([&] {
        for (int index = 0; index < messages; ++index) {
            replies[index] = send_one_message(port_, index);
        }
    });
    for (int index = 0; index < messages; ++index) {
        EXPECT_EQ(replies[index].rfind("250 ", 0), 0u) << index << ": " << replies[index];
    }
    EXPECT_EQ(spool_->size(), static_cast<std::size_t>(messages));
    run_until([&] { return ingress_->session_count() == 0; });
    EXPECT_EQ(limits_->total(), 0u);
}

// Several clients at once, each a connection per message: the counts stay exact.
TEST_F(IngressTest, ConcurrentConnectionPerMessageClients) {
    start(100, 100);
    constexpr int clients = 4;
    constexpr int messages_each = 50;
    std::atomic<int> accepted{0};
    run_client([&] {
        std::vector<std::thread> threads;
        threads.reserve(clients);
        for (int client = 0; client < clients; ++client) {
            threads.emplace_back([&, client] {
                for (int index = 0; index < messages_each; ++index) {
                    if (send_one_message(port_, client * 1000 + index).rfind("250 ", 0) == 0) {
                        ++accepted;
                    }
                }
            });
        }
        for (std::thread& thread : threads) {
            thread.join();
        }
    });
    EXPECT_EQ(accepted.load(), clients * messages_each);
    EXPECT_EQ(spool_->size(), static_cast<std::size_t>(clients * messages_each));
    run_until([&] { return ingress_->session_count() == 0; });
    EXPECT_EQ(limits_->total(), 0u);
}

// Above the per-client limit a connection is greeted with 421 and closed; once a connection
// of that client has ended, the next one is admitted again.
TEST_F(IngressTest, PerClientLimitRefusesWith421AndReleasesOnClose) {
    start(100, 2);
    std::string refused;
    bool refused_closed = false;
    std::string admitted_after;
    run_client([&] {
        auto first = std::make_unique<Client>(port_);
        Client second(port_);
        ASSERT_EQ(first->reply().rfind("220 ", 0), 0u);
        ASSERT_EQ(second.reply().rfind("220 ", 0), 0u);
        {
            Client third(port_);
            refused = third.reply();
            refused_closed = third.closed_by_server();
        }
        EXPECT_EQ(first->command("QUIT\r\n").rfind("221 ", 0), 0u);
        EXPECT_TRUE(first->closed_by_server());
        first.reset();
        // The release happens when the server has closed its side: retry briefly.
        for (int attempt = 0; attempt < 100; ++attempt) {
            Client again(port_);
            admitted_after = again.reply();
            if (admitted_after.rfind("220 ", 0) == 0) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    EXPECT_EQ(refused.rfind("421 4.7.0 ", 0), 0u) << refused;
    EXPECT_NE(refused.find("too many connections from your address"), std::string::npos);
    EXPECT_TRUE(refused_closed);
    EXPECT_EQ(admitted_after.rfind("220 ", 0), 0u) << admitted_after;
    run_until([&] { return ingress_->session_count() == 0; });
    EXPECT_EQ(limits_->total(), 0u);
}

// Above the total, every client is refused with 421 "too many connections".
TEST_F(IngressTest, TotalLimitRefusesWith421) {
    start(1, 10);
    std::string refused;
    run_client([&] {
        Client first(port_);
        ASSERT_EQ(first.reply().rfind("220 ", 0), 0u);
        Client second(port_);
        refused = second.reply();
        EXPECT_TRUE(second.closed_by_server());
        EXPECT_EQ(first.command("QUIT\r\n").rfind("221 ", 0), 0u);
    });
    EXPECT_EQ(refused.rfind("421 4.7.0 relay.test Error: too many connections\r\n", 0), 0u)
        << refused;
    run_until([&] { return ingress_->session_count() == 0; });
    EXPECT_EQ(limits_->total(), 0u);
}

// A client that disconnects in the middle of a session (no QUIT) frees its place too.
TEST_F(IngressTest, AClientThatVanishesIsReleased) {
    start(100, 1);
    int greeted = 0;
    run_client([&] {
        // With one connection allowed per client, each round is admitted only once the server
        // has released the connection the previous round dropped.
        for (int round = 0; round < 20; ++round) {
            for (int attempt = 0; attempt < 200; ++attempt) {
                Client client(port_);
                if (client.reply().rfind("220 ", 0) == 0) {
                    ++greeted;
                    client.send("EHLO client.test\r\nMAIL FROM:<sender@example.com>\r\n");
                    break;  // closed without QUIT
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
    });
    EXPECT_EQ(greeted, 20);
    run_until([&] { return ingress_->session_count() == 0; });
    EXPECT_EQ(limits_->total(), 0u);
    EXPECT_EQ(spool_->size(), 0u);
}

}  // namespace
}  // namespace relay::ingress
