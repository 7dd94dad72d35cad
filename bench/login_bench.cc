// login_bench.cc -- the cost of one SMTP login check: remembered (an HMAC and two lookups on
// the worker) against not remembered (Argon2id on the hash pool, answered through an inbox).
//
// Uses the default Argon2id parameters of [credentials] and a real LMDB store in a temporary
// folder. One hashing thread: the hashed figure is the latency of one check on an idle pool.
//
// Untrusted bytes: none. Never: part of relayd; a measuring tool only.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>

#include "relay/policy/credential_verifier.h"
#include "relay/policy/password.h"
#include "relay/store/lmdb_tenant_store.h"

namespace {

using namespace relay;

// The test thread playing a worker: answers arrive in its inbox.
class Inbox {
  public:
    void post(std::function<void()> task) {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
        wake_.notify_one();
    }
    void run_one() {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return !tasks_.empty(); });
        std::function<void()> task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
    }

  private:
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
};

struct Setup {
    std::filesystem::path folder;
    std::unique_ptr<store::TenantStore> store;
    std::unique_ptr<policy::TenantSnapshots> snapshots;
    std::unique_ptr<policy::HashPool> pool;
    std::unique_ptr<policy::CredentialVerifier> verifier;
    Inbox inbox;

    explicit Setup(std::size_t remembered_max) {
        char pattern[] = "/tmp/relay-login-bench-XXXXXX";
        folder = ::mkdtemp(pattern);
        store = std::move(store::open_lmdb_tenant_store({folder.string(), 64ull << 20}).value());
        policy::Argon2Parameters defaults;
        RELAY_ASSERT(store->add_project("bench", {}));
        RELAY_ASSERT(
            store->add_resource("bench/main", policy::hash_password("password", defaults).value()));
        snapshots = std::make_unique<policy::TenantSnapshots>(*store);
        RELAY_ASSERT(snapshots->refresh());
        pool = std::move(policy::HashPool::start({1, 16, defaults}).value());
        verifier = std::move(
            policy::CredentialVerifier::create(
                *snapshots, *pool,
                [this](std::function<void()> task) { inbox.post(std::move(task)); }, remembered_max)
                .value());
    }
    ~Setup() {
        verifier.reset();
        pool.reset();
        snapshots.reset();
        store.reset();
        std::filesystem::remove_all(folder);
    }

    policy::LoginResult login() {
        std::optional<policy::LoginResult> result;
        verifier->verify("bench/main", "password",
                         [&](const policy::LoginResult& answer) { result = answer; });
        while (!result) {
            inbox.run_one();
        }
        return *result;
    }
};

void BM_login_remembered(benchmark::State& state) {
    Setup setup(100);
    setup.login();
    for (auto _ : state) {
        policy::LoginResult result = setup.login();
        RELAY_ASSERT(result.remembered);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_login_remembered);

void BM_login_hashed(benchmark::State& state) {
    Setup setup(0);  // nothing remembered: every login is an Argon2id check
    for (auto _ : state) {
        policy::LoginResult result = setup.login();
        RELAY_ASSERT(result.outcome == policy::LoginOutcome::accepted && !result.remembered);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_login_hashed)->Unit(benchmark::kMillisecond)->Iterations(50);

}  // namespace
