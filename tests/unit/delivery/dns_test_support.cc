// dns_test_support.cc -- dnsmasq process control, test UDP servers and the poll(2) loop.
//
// Test code. Everything here gives up after a bounded time so that a broken resolver or a
// missing dnsmasq fails a test instead of hanging it.
#include "dns_test_support.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace relay::delivery::testing {
namespace {

constexpr int dnsmasq_start_attempts = 5;
constexpr auto dnsmasq_start_limit = std::chrono::seconds(5);
constexpr auto dnsmasq_stop_limit = std::chrono::seconds(3);

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// A UDP socket bound to 127.0.0.1 on a port the kernel picks; its fd and port.
std::pair<int, std::uint16_t> bind_loopback_udp() {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        std::perror("bind_loopback_udp");
        std::abort();
    }
    socklen_t length = sizeof(address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    return {fd, ntohs(address.sin_port)};
}

// A port free for both UDP and TCP right now (dnsmasq listens on both).
std::uint16_t pick_free_port() {
    auto [udp_fd, port] = bind_loopback_udp();
    const int tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(port);
    const bool tcp_free = bind(tcp_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(tcp_fd);
    close(udp_fd);
    return tcp_free ? port : 0;
}

std::string find_dnsmasq() {
    for (const char* path : {"/usr/sbin/dnsmasq", "/sbin/dnsmasq", "/usr/bin/dnsmasq"}) {
        if (access(path, X_OK) == 0) {
            return path;
        }
    }
    return {};
}

std::string read_file(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// End of the question section (header + one question), or 0 if the query is not one.
std::size_t question_end(const std::vector<std::uint8_t>& query) {
    std::size_t offset = 12;
    while (offset < query.size() && query[offset] != 0) {
        offset += 1 + query[offset];
    }
    offset += 1 + 4;  // root label, QTYPE, QCLASS
    return offset <= query.size() ? offset : 0;
}

}  // namespace

Dnsmasq::Dnsmasq(const std::vector<std::string>& records) {
    for (int attempt = 0; attempt < dnsmasq_start_attempts && !running(); ++attempt) {
        if (start_once(records) && wait_until_listening()) {
            // dnsmasq keeps its log open; the name is only needed to report a failed start.
            unlink(log_path_.c_str());
            log_path_.clear();
            return;
        }
        stop();
    }
}

Dnsmasq::~Dnsmasq() {
    stop();
    if (!log_path_.empty()) {
        unlink(log_path_.c_str());
    }
}

bool Dnsmasq::start_once(const std::vector<std::string>& records) {
    const std::string binary = find_dnsmasq();
    if (binary.empty()) {
        failure_ = "dnsmasq not found: install Debian's dnsmasq-base";
        return false;
    }
    port_ = pick_free_port();
    if (port_ == 0) {
        failure_ = "no free port";
        return false;
    }
    if (log_path_.empty()) {
        char path[] = "/tmp/relay-dnsmasq-XXXXXX";
        const int fd = mkstemp(path);
        close(fd);
        log_path_ = path;
    }
    std::vector<std::string> arguments = {
        binary, "--no-daemon", "--keep-in-foreground", "--user=root", "--conf-file=/dev/null",
        "--port=" + std::to_string(port_), "--listen-address=127.0.0.1", "--bind-interfaces",
        "--no-resolv", "--no-hosts", "--log-facility=-",
        // Names under .test are answered from the records below only: unknown ones are
        // NXDOMAIN. Other names have no upstream and are REFUSED.
        "--local=/test/"};
    arguments.insert(arguments.end(), records.begin(), records.end());
    std::vector<char*> argv;
    argv.reserve(arguments.size() + 1);
    for (std::string& argument : arguments) {
        argv.push_back(argument.data());
    }
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        const int log_fd = open(log_path_.c_str(), O_WRONLY | O_TRUNC);
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        execv(argv[0], argv.data());
        _exit(127);
    }
    if (pid_ < 0) {
        failure_ = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    return true;
}

bool Dnsmasq::wait_until_listening() {
    const auto deadline = std::chrono::steady_clock::now() + dnsmasq_start_limit;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            failure_ = "dnsmasq exited at start: " + read_file(log_path_);
            return false;
        }
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address = loopback(port_);
        const bool listening =
            connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
        close(fd);
        if (listening) {
            failure_.clear();
            return true;
        }
        usleep(10'000);
    }
    failure_ = "dnsmasq did not listen in time: " + read_file(log_path_);
    return false;
}

void Dnsmasq::stop() {
    if (pid_ <= 0) {
        return;
    }
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + dnsmasq_stop_limit;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            break;
        }
        usleep(5'000);
    }
    pid_ = -1;
}

SilentUdpServer::SilentUdpServer() {
    std::tie(fd_, port_) = bind_loopback_udp();
}

SilentUdpServer::~SilentUdpServer() {
    close(fd_);
}

int SilentUdpServer::count_received() {
    int count = 0;
    std::uint8_t buffer[4096];
    while (recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT) >= 0) {
        ++count;
    }
    return count;
}

ScriptedDnsServer::ScriptedDnsServer(Responder respond) : respond_(std::move(respond)) {
    std::tie(fd_, port_) = bind_loopback_udp();
    thread_ = std::thread([this] { serve(); });
}

ScriptedDnsServer::~ScriptedDnsServer() {
    stopping_ = true;
    thread_.join();
    close(fd_);
}

void ScriptedDnsServer::serve() {
    while (!stopping_) {
        pollfd ready{fd_, POLLIN, 0};
        if (poll(&ready, 1, 20) <= 0) {
            continue;
        }
        std::vector<std::uint8_t> query(4096);
        sockaddr_storage peer{};
        socklen_t peer_length = sizeof(peer);
        const ssize_t received = recvfrom(fd_, query.data(), query.size(), 0,
                                          reinterpret_cast<sockaddr*>(&peer), &peer_length);
        if (received < 12) {
            continue;
        }
        query.resize(static_cast<std::size_t>(received));
        const std::vector<std::uint8_t> answer = respond_(query);
        sendto(fd_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&peer),
               peer_length);
    }
}

std::vector<std::uint8_t> answer_with_rcode(const std::vector<std::uint8_t>& query, int rcode) {
    const std::size_t end = question_end(query);
    std::vector<std::uint8_t> answer(query.begin(), query.begin() + static_cast<long>(end));
    answer[2] = static_cast<std::uint8_t>(0x80 | (query[2] & 0x79));  // QR, opcode, RD
    answer[3] = static_cast<std::uint8_t>(0x80 | (rcode & 0x0f));     // RA, RCODE
    answer[4] = 0;
    answer[5] = 1;                                          // QDCOUNT
    std::fill(answer.begin() + 6, answer.begin() + 12, 0);  // no AN, NS, AR records
    return answer;
}

std::vector<std::uint8_t> answer_truncated_record(const std::vector<std::uint8_t>& query) {
    std::vector<std::uint8_t> answer = answer_with_rcode(query, 0);
    const std::size_t end = question_end(query);
    answer[7] = 1;  // ANCOUNT
    const std::uint8_t record[] = {
        0xc0,           0x0c,                        // owner: the question's name
        query[end - 4], query[end - 3],              // type: as asked
        0x00,           0x01,                        // class IN
        0x00,           0x00,           0x0e, 0x10,  // TTL
        0x00,           0x20,                        // RDLENGTH 32 ...
        0x00,           0x0a,           0x02,        // ... of which 3 bytes follow
    };
    answer.insert(answer.end(), std::begin(record), std::end(record));
    return answer;
}

void PollLoop::watch(int fd, bool readable, bool writable) {
    ++watch_calls_;
    saw_writable_ = saw_writable_ || writable;
    if (!readable && !writable) {
        watched_.erase(fd);
    } else {
        watched_[fd] = {readable, writable};
    }
}

bool PollLoop::run_until(Resolver& resolver, const std::function<bool()>& done,
                         std::chrono::milliseconds limit) {
    using std::chrono::milliseconds;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        const auto remaining =
            std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
        if (remaining.count() <= 0) {
            return false;
        }
        const std::optional<milliseconds> timeout = resolver.next_timeout();
        const milliseconds wait = timeout ? std::min(*timeout, remaining) : remaining;
        std::vector<pollfd> fds;
        for (const auto& [fd, interest] : watched_) {
            const short events =
                static_cast<short>((interest.first ? POLLIN : 0) | (interest.second ? POLLOUT : 0));
            fds.push_back(pollfd{fd, events, 0});
        }
        const int ready = poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready == 0) {
            resolver.on_timeout();
            continue;
        }
        for (const pollfd& entry : fds) {
            if (entry.revents != 0) {
                resolver.on_ready(entry.fd, (entry.revents & (POLLIN | POLLERR | POLLHUP)) != 0,
                                  (entry.revents & POLLOUT) != 0);
            }
        }
    }
    return true;
}

}  // namespace relay::delivery::testing
