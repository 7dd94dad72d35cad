// worker_pool.h -- the worker threads: one per core, each running its own Reactor.
//
// `start` creates the threads, pins worker i to CPU i (modulo the CPUs this process may use;
// unless asked not to), builds each Reactor on its own thread (SINGLE_ISSUER requires it), runs the
// caller's setup on it, and returns once every worker is ready or one failed. After that the pool's
// only cross-thread channel is `post`.
//
// Thread: the main thread calls start/post/join.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "relay/base/result.h"
#include "relay/engine/reactor.h"

namespace relay::engine {

// What a worker runs besides its reactor (listeners, spool, delivery). Created by the setup
// function on the worker thread and destroyed there after the loop ends, before the reactor.
class WorkerContext {
  public:
    virtual ~WorkerContext() = default;
};

class WorkerPool {
  public:
    // Runs on each worker thread before its loop starts; an error aborts the start.
    using Setup = std::function<Result<std::unique_ptr<WorkerContext>>(Reactor&)>;

    WorkerPool() = default;
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Whether worker i is pinned to CPU i. A program that stands in for other machines in tests
    // and benchmarks (the counting sink) must not be: pinned, it takes a core from the relay
    // under test, whose worker on that core cannot move away, while the other cores idle.
    enum class Pinning { one_cpu_each, none };

    Status start(int count, const ReactorOptions& options, Setup setup,
                 Pinning pinning = Pinning::one_cpu_each);
    int size() const { return static_cast<int>(reactors_.size()); }
    // Runs `task` on worker `index` (any thread).
    void post(int index, std::function<void()> task);
    // Waits for every worker loop to end (each ends when a task calls Reactor::stop).
    void join();

    // One worker per CPU this process may run on.
    static int default_count();

  private:
    std::vector<std::thread> threads_;
    std::vector<Reactor*> reactors_;
};

}  // namespace relay::engine
