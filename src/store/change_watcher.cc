// change_watcher.cc -- SUBSCRIBE relay:changes on a blocking connection, read with a short
// timeout so that the thread notices when to stop.
#include "relay/store/change_watcher.h"

#include <chrono>

#include "redis_connection.h"
#include "redis_keys.h"
#include "relay/base/log.h"

namespace relay::store {
namespace {

// How long one read waits before looking at the stop flag again.
constexpr std::uint32_t read_wait_ms = 200;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool is_message(const internal::RedisReply& reply) {
    return reply.type == internal::RedisReply::Type::array && reply.elements.size() == 3 &&
           reply.elements[0].text == "message";
}

}  // namespace

ChangeWatcher::ChangeWatcher(ChangeWatcherOptions options, std::function<void()> on_change)
    : options_(std::move(options)), on_change_(std::move(on_change)) {}

ChangeWatcher::~ChangeWatcher() {
    stopping_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
}

void ChangeWatcher::start() {
    thread_ = std::thread([this] { run(); });
}

void ChangeWatcher::mark(bool reachable, const std::string& why) {
    std::int64_t since = unreachable_since_ms_.load(std::memory_order_relaxed);
    if (reachable && since != 0) {
        unreachable_since_ms_.store(0, std::memory_order_relaxed);
        log::info("cluster: shared store: Redis {} answers again", options_.redis.address);
    } else if (!reachable && since == 0) {
        unreachable_since_ms_.store(now_ms(), std::memory_order_relaxed);
        log::warning("cluster: shared store: {}; serving the last snapshot", why);
    }
}

void ChangeWatcher::run() {
    const RedisStoreOptions& redis = options_.redis;
    internal::RedisConnection connection(
        {redis.address, redis.password, redis.connect_timeout_ms, redis.command_timeout_ms});
    bool subscribed = false;
    std::int64_t retry_at_ms = 0;
    std::int64_t called_ms = 0;
    while (!stopping_) {
        if (!subscribed) {
            if (now_ms() < retry_at_ms) {
                std::this_thread::sleep_for(std::chrono::milliseconds(read_wait_ms / 4));
                continue;
            }
            auto reply = connection.command(
                {"SUBSCRIBE", std::string(internal::redis_keys::changes_channel)});
            if (!reply || reply->type != internal::RedisReply::Type::array) {
                mark(false, reply ? "SUBSCRIBE refused: " + reply->text : reply.error().message);
                connection.drop();
                retry_at_ms = now_ms() + options_.reconnect_ms;
                continue;
            }
            subscribed = true;
            mark(true, "");
            called_ms = now_ms();
            on_change_();  // what was published while this node was not listening
        }
        auto push = connection.next_push(read_wait_ms);
        if (!push) {
            mark(false, push.error().message);
            subscribed = false;
            retry_at_ms = now_ms() + options_.reconnect_ms;
            continue;
        }
        if ((push.value() && is_message(*push.value())) ||
            now_ms() - called_ms >= options_.poll_ms) {
            called_ms = now_ms();
            on_change_();
        }
    }
}

}  // namespace relay::store
