// hash_pool.cc -- the password-checking threads and their bounded queue.
#include "relay/policy/hash_pool.h"

#include "relay/base/log.h"

namespace relay::policy {
namespace {

thread_local bool pool_thread = false;

}  // namespace

Result<std::unique_ptr<HashPool>> HashPool::start(const HashPoolOptions& options) {
    RELAY_ASSERT(options.threads > 0 && options.queue_max > 0);
    std::unique_ptr<HashPool> pool(new HashPool(options));
    auto stand_in = generate_password();
    if (!stand_in) {
        return stand_in.error();
    }
    auto hash = hash_password(stand_in.value(), options.parameters);
    if (!hash) {
        return hash.error();
    }
    pool->stand_in_hash_ = std::move(hash.value());
    for (std::uint32_t index = 0; index < options.threads; ++index) {
        pool->threads_.emplace_back([raw = pool.get(), index] {
            log::set_thread_name("hash" + std::to_string(index));
            raw->run();
        });
    }
    return pool;
}

HashPool::~HashPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        jobs_.clear();
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) {
        thread.join();
    }
}

bool HashPool::submit(std::function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || jobs_.size() >= options_.queue_max) {
            return false;
        }
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

bool HashPool::on_pool_thread() {
    return pool_thread;
}

void HashPool::run() {
    pool_thread = true;
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) {
                return;
            }
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace relay::policy
