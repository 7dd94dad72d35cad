// worker_pool.cc -- starting, pinning and joining worker threads.
#include "relay/engine/worker_pool.h"

#include <pthread.h>
#include <sched.h>

#include <condition_variable>
#include <mutex>
#include <string>

#include "relay/base/log.h"

namespace relay::engine {
namespace {

void pin_to_cpu(int index) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        return;
    }
    int count = CPU_COUNT(&allowed);
    if (count <= 1) {
        return;
    }
    int wanted = index % count;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &allowed) && wanted-- == 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            (void)pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            return;
        }
    }
}

}  // namespace

int WorkerPool::default_count() {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        return 1;
    }
    return std::max(1, CPU_COUNT(&allowed));
}

WorkerPool::~WorkerPool() {
    join();
}

Status WorkerPool::start(int count, const ReactorOptions& options, Setup setup, Pinning pinning) {
    RELAY_ASSERT(threads_.empty() && count > 0);
    std::mutex mutex;
    std::condition_variable changed;
    int ready = 0;
    int failed = 0;
    Error first_error;
    reactors_.assign(static_cast<std::size_t>(count), nullptr);

    for (int index = 0; index < count; ++index) {
        threads_.emplace_back([&, index] {
            log::set_thread_name("w" + std::to_string(index));
            if (pinning == Pinning::one_cpu_each) {
                pin_to_cpu(index);
            }
            auto reactor = Reactor::create(index, options);
            std::unique_ptr<WorkerContext> context;
            Status status;
            if (!reactor) {
                status = reactor.error();
            } else if (auto created = setup(*reactor.value())) {
                context = std::move(created.value());
            } else {
                status = created.error();
            }
            {
                std::lock_guard lock(mutex);
                if (status) {
                    reactors_[static_cast<std::size_t>(index)] = reactor.value().get();
                    ++ready;
                } else {
                    if (failed++ == 0) {
                        first_error = status.error();
                    }
                }
                changed.notify_all();
            }
            if (!status) {
                return;
            }
            reactor.value()->run();
            context.reset();  // on this thread, while its reactor still exists
        });
    }
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return ready + failed == count; });
    if (failed > 0) {
        lock.unlock();
        for (Reactor* reactor : reactors_) {
            if (reactor != nullptr) {
                reactor->post([reactor] { reactor->stop(); });
            }
        }
        join();
        return first_error;
    }
    return {};
}

void WorkerPool::post(int index, std::function<void()> task) {
    Reactor* reactor = reactors_.at(static_cast<std::size_t>(index));
    RELAY_ASSERT(reactor != nullptr);
    reactor->post(std::move(task));
}

void WorkerPool::join() {
    for (std::thread& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
    threads_.clear();
    reactors_.clear();
}

}  // namespace relay::engine
