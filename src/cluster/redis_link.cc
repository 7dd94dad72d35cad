// redis_link.cc -- hiredis's asynchronous context on the cluster thread's ring.
//
// hiredis calls our hooks to start or stop watching its fd; the poller turns readiness into
// redisAsyncHandleRead/Write, inside which hiredis calls the reply callbacks. Those only copy
// the reply and queue the caller's callback on the reactor (defer), so user code never runs
// inside hiredis. A context is freed only outside hiredis's callbacks (from a timer or a
// deferred task); hiredis then calls every outstanding reply callback with no reply and the
// disconnect callback, which is how each request fails exactly once.
#include "relay/cluster/redis_link.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <chrono>

#include "relay/base/log.h"
#include "relay/cluster/hiredis_reply.h"

namespace relay::cluster {

struct RedisLink::Pending {
    RedisLink* link = nullptr;
    Done done;
    std::int64_t sent_ms = 0;
    bool answered = false;
};

namespace {

RedisLink* owner(const redisAsyncContext* context) {
    return static_cast<RedisLink*>(context->data);
}

void hook_add_read(void* data) {
    auto* context = static_cast<redisAsyncContext*>(data);
    owner(context)->on_event_change(context->c.fd, 1, 0);
}
void hook_del_read(void* data) {
    auto* context = static_cast<redisAsyncContext*>(data);
    owner(context)->on_event_change(context->c.fd, -1, 0);
}
void hook_add_write(void* data) {
    auto* context = static_cast<redisAsyncContext*>(data);
    owner(context)->on_event_change(context->c.fd, 0, 1);
}
void hook_del_write(void* data) {
    auto* context = static_cast<redisAsyncContext*>(data);
    owner(context)->on_event_change(context->c.fd, 0, -1);
}
void hook_cleanup(void* data) {
    auto* context = static_cast<redisAsyncContext*>(data);
    owner(context)->on_event_change(-1, 0, 0);
}

void connected_callback(const redisAsyncContext* context, int status) {
    owner(context)->on_connected(status);
}

void disconnected_callback(const redisAsyncContext* context, int) {
    owner(context)->on_disconnected();
}

void reply_callback(redisAsyncContext*, void* reply, void* data) {
    auto* pending = static_cast<RedisLink::Pending*>(data);
    pending->link->on_reply(pending, reply);
}

}  // namespace

std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

RedisLink::RedisLink(engine::Reactor& reactor, RedisLinkOptions options,
                     policy::FleetHealth& health, std::string script)
    : reactor_(reactor),
      options_(std::move(options)),
      health_(health),
      script_(std::move(script)),
      poller_(
          reactor,
          [this](int, bool readable, bool writable) {
              // Either call may free the context (an error): look again before the second.
              if (readable && context_ != nullptr) {
                  redisAsyncHandleRead(context_);
              }
              if (writable && context_ != nullptr) {
                  redisAsyncHandleWrite(context_);
              }
          },
          [] {}) {
    health_.down_since_ms.store(steady_ms());
}

RedisLink::~RedisLink() {
    reactor_.timers().cancel(reconnect_timer_);
    reactor_.timers().cancel(watchdog_timer_);
    stopping_ = true;
    if (context_ != nullptr) {
        redisAsyncContext* context = context_;
        redisAsyncFree(context);  // fails what is pending; callbacks only queue
    }
    for (Pending* pending : pending_) {
        delete pending;
    }
}

void RedisLink::start() {
    connect();
    watchdog_timer_ = 0;
    check_timeouts();
}

void RedisLink::connect() {
    reconnect_timer_ = 0;
    const std::string& address = options_.address;
    std::size_t colon = address.rfind(':');
    if (!address.empty() && address[0] == '/') {
        context_ = redisAsyncConnectUnix(address.c_str());
    } else {
        std::string host = address.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        int port = std::atoi(address.c_str() + colon + 1);
        context_ = redisAsyncConnect(host.c_str(), port);
    }
    if (context_ == nullptr || context_->err != 0) {
        std::string why = context_ == nullptr ? "out of memory" : context_->errstr;
        if (context_ != nullptr) {
            redisAsyncFree(context_);
            context_ = nullptr;
        }
        mark_down("connect: " + why);
        schedule_reconnect();
        return;
    }
    context_->data = this;
    context_->ev.data = context_;
    context_->ev.addRead = hook_add_read;
    context_->ev.delRead = hook_del_read;
    context_->ev.addWrite = hook_add_write;
    context_->ev.delWrite = hook_del_write;
    context_->ev.cleanup = hook_cleanup;
    redisAsyncSetConnectCallback(context_, connected_callback);
    redisAsyncSetDisconnectCallback(context_, disconnected_callback);
    connected_ = false;
    connect_started_ms_ = steady_ms();
    // The connect is in progress: hiredis wants to know when the socket is writable.
    on_event_change(context_->c.fd, 0, 1);
    if (!options_.password.empty()) {
        send({"AUTH", options_.password}, [this](Result<RedisReply> reply) {
            if (!reply || reply.value().type == RedisReply::Type::error) {
                fail_connection("AUTH refused");
            }
        });
    }
    load_script();
}

// hiredis asks for read and write separately (+1 add, -1 remove); the poller wants the union.
// A negative fd is the cleanup hook: the context goes away.
void RedisLink::on_event_change(int fd, int read, int write) {
    if (fd < 0) {
        if (fd_ >= 0) {
            poller_.watch(fd_, false, false);
        }
        fd_ = -1;
        want_read_ = want_write_ = false;
        return;
    }
    fd_ = fd;
    want_read_ = read != 0 ? read > 0 : want_read_;
    want_write_ = write != 0 ? write > 0 : want_write_;
    poller_.watch(fd_, want_read_, want_write_);
}

void RedisLink::on_connected(int status) {
    if (status != REDIS_OK) {
        // hiredis frees the context after this callback.
        std::string why = context_ != nullptr ? context_->errstr : "connect failed";
        context_ = nullptr;
        mark_down("connect: " + why);
        schedule_reconnect();
        return;
    }
    connected_ = true;
}

void RedisLink::on_disconnected() {
    // hiredis frees the context after this callback; pending replies were failed before it.
    context_ = nullptr;
    connected_ = false;
    mark_down(last_error_.empty() ? "connection closed" : last_error_);
    last_error_.clear();
    schedule_reconnect();
}

void RedisLink::mark_down(const std::string& why) {
    if (stopping_) {
        return;  // closed on purpose
    }
    if (ready_ || health_.down_since_ms.load() == 0 || backoff_ms_ == 0) {
        log::warning("cluster: Redis {} unreachable: {}", options_.address, why);
    }
    ready_ = false;
    std::int64_t expected = 0;
    (void)health_.down_since_ms.compare_exchange_strong(expected, steady_ms());
}

void RedisLink::schedule_reconnect() {
    if (reconnect_timer_ != 0 || stopping_) {
        return;
    }
    backoff_ms_ = backoff_ms_ == 0 ? options_.reconnect_ms_min
                                   : std::min(options_.reconnect_ms_max, backoff_ms_ * 2);
    reconnect_timer_ = reactor_.timers().add(
        reactor_.now() + std::chrono::milliseconds(backoff_ms_), [this] { connect(); });
}

// Dropped from a timer or a deferred task, never from inside hiredis.
void RedisLink::fail_connection(const std::string& why) {
    if (context_ == nullptr) {
        return;
    }
    last_error_ = why;
    reactor_.defer([this, context = context_] {
        if (context_ == context) {
            if (!connected_) {
                // No disconnect callback for a connect that never finished: tidy up here.
                context_ = nullptr;
                redisAsyncFree(context);
                mark_down(last_error_);
                last_error_.clear();
                schedule_reconnect();
            } else {
                redisAsyncFree(context);
            }
        }
    });
}

void RedisLink::load_script() {
    send({"SCRIPT", "LOAD", script_}, [this](Result<RedisReply> reply) {
        if (!reply || reply.value().type != RedisReply::Type::text) {
            fail_connection(!reply ? reply.error().message : "SCRIPT LOAD: " + reply.value().text);
            return;
        }
        sha_ = reply.value().text;
        if (!ready_) {
            log::info("cluster: Redis {} ready", options_.address);
        }
        ready_ = true;
        backoff_ms_ = 0;
        health_.down_since_ms.store(0);
    });
}

void RedisLink::send(const std::vector<std::string>& argv, Done done) {
    if (context_ == nullptr) {
        reactor_.defer([done = std::move(done)] { done(Error{"Redis not connected"}); });
        return;
    }
    std::vector<const char*> pointers;
    std::vector<std::size_t> lengths;
    for (const std::string& part : argv) {
        pointers.push_back(part.data());
        lengths.push_back(part.size());
    }
    auto* pending = new Pending{this, std::move(done), steady_ms(), false};
    if (redisAsyncCommandArgv(context_, reply_callback, pending, static_cast<int>(argv.size()),
                              pointers.data(), lengths.data()) != REDIS_OK) {
        Done failed = std::move(pending->done);
        delete pending;
        reactor_.defer([failed = std::move(failed)] { failed(Error{"Redis command refused"}); });
        return;
    }
    pending_.push_back(pending);
}

void RedisLink::run_script(const std::vector<std::string>& keys,
                           const std::vector<std::string>& arguments, Done done) {
    if (!ready_) {
        reactor_.defer([done = std::move(done)] { done(Error{"Redis not ready"}); });
        return;
    }
    std::vector<std::string> argv = {"EVALSHA", sha_, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    send(argv, [this, done = std::move(done)](Result<RedisReply> reply) {
        if (reply && reply.value().type == RedisReply::Type::error &&
            reply.value().text.starts_with("NOSCRIPT")) {
            load_script();
        }
        done(std::move(reply));
    });
}

// From inside hiredis: copy, then let the reactor run the caller's code.
void RedisLink::on_reply(Pending* pending, void* reply) {
    std::erase(pending_, pending);
    Result<RedisReply> result =
        reply == nullptr ? Result<RedisReply>(Error{"Redis connection lost"})
                         : Result<RedisReply>(copy_hiredis_reply(static_cast<redisReply*>(reply)));
    reactor_.defer([done = std::move(pending->done), result = std::move(result)]() mutable {
        done(std::move(result));
    });
    delete pending;
}

// Every 50 ms: a connect or a reply past its timeout drops the connection.
void RedisLink::check_timeouts() {
    std::int64_t now = steady_ms();
    if (context_ != nullptr && !connected_ &&
        now - connect_started_ms_ > options_.connect_timeout_ms) {
        fail_connection("connect timed out");
    } else if (context_ != nullptr && !pending_.empty() &&
               now - pending_.front()->sent_ms > options_.command_timeout_ms) {
        fail_connection("no reply within " + std::to_string(options_.command_timeout_ms) + " ms");
    }
    watchdog_timer_ = reactor_.timers().add(reactor_.now() + std::chrono::milliseconds(50),
                                            [this] { check_timeouts(); });
}

}  // namespace relay::cluster
