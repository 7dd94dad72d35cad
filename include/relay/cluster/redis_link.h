// redis_link.h -- one connection to Redis through hiredis's asynchronous API, its socket polled
// on a reactor's ring (engine::FdPoller) the way the resolver's are, never a blocking call.
//
// SYNOPSIS
//   RedisLink link(reactor, options, health, script);
//   link.start();                                    // connects, AUTH, SCRIPT LOAD
//   link.run_script(keys, arguments, [](Result<RedisReply> reply) { ... });
//
// DESCRIPTION
//   The link connects (TCP "HOST:PORT", "[V6]:PORT", or a unix socket path), sends AUTH when a
//   password is set, loads the script once (SCRIPT LOAD) and is then `ready`: run_script sends
//   EVALSHA. It is down from a failure until the next successful load: a refused or dropped
//   connection, a reply later than `command_timeout_ms` (the connection is dropped, every
//   request waiting on it fails), or a connect that takes longer than `connect_timeout_ms`.
//   Reconnection waits `reconnect_ms_min`, doubling up to `reconnect_ms_max`, back to the
//   minimum after a success. A NOSCRIPT reply (Redis restarted or flushed its scripts) fails
//   that request and loads the script again.
//
//   `health.down_since_ms` is 0 while ready, else when the link went down: the workers read it.
//
//   hiredis 0.14 resolves a host name with getaddrinfo inside its connect call: a name, unlike
//   an address, can block this thread (never a worker's).
//
// Thread: the reactor's (the cluster thread). Each callback runs exactly once, on that thread,
// outside hiredis's own reading (queued on the reactor), so it may call run_script again.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "relay/cluster/redis_reply.h"
#include "relay/engine/fd_poller.h"
#include "relay/engine/reactor.h"
#include "relay/policy/leased_budget.h"

struct redisAsyncContext;

namespace relay::cluster {

struct RedisLinkOptions {
    std::string address = "127.0.0.1:6379";
    std::string password;
    std::uint32_t connect_timeout_ms = 1000;
    std::uint32_t command_timeout_ms = 1000;
    std::uint32_t reconnect_ms_min = 100;
    std::uint32_t reconnect_ms_max = 5000;
};

class RedisLink {
  public:
    using Done = std::function<void(Result<RedisReply>)>;

    RedisLink(engine::Reactor& reactor, RedisLinkOptions options, policy::FleetHealth& health,
              std::string script);
    ~RedisLink();
    RedisLink(const RedisLink&) = delete;
    RedisLink& operator=(const RedisLink&) = delete;

    void start();
    bool ready() const { return ready_; }
    // Runs the script (EVALSHA); fails at once (queued) when the link is not ready.
    void run_script(const std::vector<std::string>& keys, const std::vector<std::string>& arguments,
                    Done done);

    // hiredis's event hooks and callbacks (C linkage trampolines in redis_link.cc).
    struct Pending;
    void on_event_change(int fd, int read, int write);
    void on_connected(int status);
    void on_disconnected();
    void on_reply(Pending* pending, void* reply);

  private:
    void connect();
    void fail_connection(const std::string& why);
    void schedule_reconnect();
    void send(const std::vector<std::string>& argv, Done done);
    void load_script();
    void mark_down(const std::string& why);
    void check_timeouts();

    engine::Reactor& reactor_;
    RedisLinkOptions options_;
    policy::FleetHealth& health_;
    std::string script_;
    std::string sha_;
    engine::FdPoller poller_;
    redisAsyncContext* context_ = nullptr;
    int fd_ = -1;
    bool want_read_ = false;
    bool want_write_ = false;
    bool connected_ = false;
    bool ready_ = false;
    bool stopping_ = false;
    std::int64_t connect_started_ms_ = 0;
    std::uint32_t backoff_ms_ = 0;
    engine::TimerQueue::TimerId reconnect_timer_ = 0;
    engine::TimerQueue::TimerId watchdog_timer_ = 0;
    std::deque<Pending*> pending_;  // sent, in order; owned until their reply
    std::string last_error_;
};

// Steady-clock milliseconds, the clock of the leases and of the workers' decisions.
std::int64_t steady_ms();

}  // namespace relay::cluster
