// dns_test_support.h -- what the resolver tests run against: a real dnsmasq on loopback, UDP
// sockets that never answer or answer with crafted bytes, and the poll(2) loop that drives a
// Resolver through the FdWatcher seam (the engine's io_uring loop takes its place in relayd).
//
// Test code; one thread, except ScriptedDnsServer's answering thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "relay/delivery/resolver.h"

namespace relay::delivery::testing {

// dnsmasq (Debian's dnsmasq-base) serving only the records given on its command line, on
// 127.0.0.1 and a free port. Stopped by the destructor; PR_SET_PDEATHSIG also ends it if the
// test process dies first, so no run leaves one behind.
class Dnsmasq {
  public:
    // `records`: dnsmasq options such as "--mx-host=a.test,mx.a.test,10". Check running().
    explicit Dnsmasq(const std::vector<std::string>& records);
    ~Dnsmasq();
    Dnsmasq(const Dnsmasq&) = delete;
    Dnsmasq& operator=(const Dnsmasq&) = delete;

    bool running() const { return pid_ > 0; }
    std::uint16_t port() const { return port_; }
    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
    // Why it is not running, with dnsmasq's own output.
    const std::string& failure() const { return failure_; }

  private:
    bool start_once(const std::vector<std::string>& records);
    bool wait_until_listening();
    void stop();

    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string log_path_;
    std::string failure_;
};

// A UDP socket on 127.0.0.1 that nobody reads: queries sent to it time out.
class SilentUdpServer {
  public:
    SilentUdpServer();
    ~SilentUdpServer();
    SilentUdpServer(const SilentUdpServer&) = delete;
    SilentUdpServer& operator=(const SilentUdpServer&) = delete;

    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
    // Datagrams received so far (drains the socket).
    int count_received();

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// A UDP DNS server on 127.0.0.1 whose answers are built by `respond` from the query bytes.
// It answers on its own thread until destroyed.
class ScriptedDnsServer {
  public:
    using Responder = std::function<std::vector<std::uint8_t>(const std::vector<std::uint8_t>&)>;
    explicit ScriptedDnsServer(Responder respond);
    ~ScriptedDnsServer();
    ScriptedDnsServer(const ScriptedDnsServer&) = delete;
    ScriptedDnsServer& operator=(const ScriptedDnsServer&) = delete;

    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

  private:
    void serve();

    int fd_ = -1;
    std::uint16_t port_ = 0;
    Responder respond_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// Answer builders for ScriptedDnsServer: the query's header and question echoed back as a
// response with `rcode` and no records; or with one answer record whose data is cut short.
std::vector<std::uint8_t> answer_with_rcode(const std::vector<std::uint8_t>& query, int rcode);
std::vector<std::uint8_t> answer_truncated_record(const std::vector<std::uint8_t>& query);

// The owner's side of the seam, on poll(2).
class PollLoop : public FdWatcher {
  public:
    void watch(int fd, bool readable, bool writable) override;

    // Drives `resolver` until `done()` or `limit` passes; false on the limit.
    bool run_until(Resolver& resolver, const std::function<bool()>& done,
                   std::chrono::milliseconds limit = std::chrono::seconds(10));

    const std::map<int, std::pair<bool, bool>>& watched() const { return watched_; }
    std::size_t watch_calls() const { return watch_calls_; }
    // Whether the resolver ever asked for writability (a TCP connect or send).
    bool saw_writable() const { return saw_writable_; }

  private:
    std::map<int, std::pair<bool, bool>> watched_;  // fd -> (readable, writable)
    std::size_t watch_calls_ = 0;
    bool saw_writable_ = false;
};

}  // namespace relay::delivery::testing
