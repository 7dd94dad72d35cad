// verifier_test.cc -- passwords, tenant snapshots and the login check, on a real LMDB store.
//
// The "worker" here is the test thread with an inbox: the verifier posts answers into it, and
// the test runs them, as a worker's loop would.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "../store/store_test_support.h"
#include "relay/policy/credential_verifier.h"
#include "relay/policy/password.h"

namespace relay::policy {
namespace {

const Argon2Parameters fast_hash{256, 1, 1};

class Inbox {
  public:
    void post(std::function<void()> task) {
        {
            std::lock_guard lock(mutex_);
            tasks_.push_back(std::move(task));
            posted_from_pool_ = posted_from_pool_ && HashPool::on_pool_thread();
        }
        wake_.notify_all();
    }
    // Runs posted tasks on this thread until `done` holds; false after 10 s.
    bool run_until(const std::function<bool()>& done) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done()) {
            std::unique_lock lock(mutex_);
            if (!wake_.wait_until(lock, deadline, [this] { return !tasks_.empty(); })) {
                return false;
            }
            std::function<void()> task = std::move(tasks_.front());
            tasks_.pop_front();
            lock.unlock();
            task();
        }
        return true;
    }
    bool posted_from_pool() const { return posted_from_pool_; }

  private:
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    bool posted_from_pool_ = true;
};

TEST(Password, GeneratedPasswordsAreLongAndDifferent) {
    auto first = generate_password();
    auto second = generate_password();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->size(), 32u);
    EXPECT_NE(*first, *second);
    EXPECT_EQ(first->find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
}

TEST(Password, NoneStartsWithADash) {
    // One in 64 would, and reads as an option on a command line (swaks --auth-password -x).
    for (int i = 0; i < 2000; ++i) {
        auto password = generate_password();
        ASSERT_TRUE(password);
        ASSERT_NE(password->front(), '-') << *password;
    }
}

TEST(Password, HashIsArgon2idInPhcFormAndChecks) {
    auto hash = hash_password("secret", fast_hash);
    ASSERT_TRUE(hash) << hash.error().message;
    EXPECT_EQ(hash->rfind("$argon2id$v=19$m=256,t=1,p=1$", 0), 0u) << *hash;
    EXPECT_TRUE(password_matches(*hash, "secret"));
    EXPECT_FALSE(password_matches(*hash, "Secret"));
    EXPECT_FALSE(password_matches(*hash, ""));
    EXPECT_FALSE(password_matches("not a hash", "secret"));
    EXPECT_NE(*hash, hash_password("secret", fast_hash).value());  // a fresh salt each time
}

class PolicyTest : public store::testing::StoreFixture {
  protected:
    void SetUp() override {
        StoreFixture::SetUp();
        ASSERT_TRUE(store_->add_project("acme", {2, std::nullopt}));
        set_password("acme/web", "right", true);
        ASSERT_TRUE(store_->add_domain("acme/web", "example.com"));
        snapshots_ = std::make_unique<TenantSnapshots>(*store_);
        ASSERT_TRUE(snapshots_->refresh());
    }
    void TearDown() override {
        verifier_.reset();
        pool_.reset();
        snapshots_.reset();
        StoreFixture::TearDown();
    }
    void set_password(const std::string& username, const std::string& password, bool add) {
        auto hash = hash_password(password, fast_hash);
        ASSERT_TRUE(hash);
        Status changed =
            add ? store_->add_resource(username, *hash) : store_->set_password(username, *hash);
        ASSERT_TRUE(changed) << changed.error().message;
    }
    void start_verifier(HashPoolOptions options = {1, 16, fast_hash},
                        std::size_t remembered_max = 100) {
        auto pool = HashPool::start(options);
        ASSERT_TRUE(pool) << pool.error().message;
        pool_ = std::move(pool.value());
        auto verifier = CredentialVerifier::create(
            *snapshots_, *pool_,
            [this](std::function<void()> task) { inbox_.post(std::move(task)); }, remembered_max);
        ASSERT_TRUE(verifier);
        verifier_ = std::move(verifier.value());
    }
    // Verifies and waits for the answer; `immediate` tells whether it came inside verify().
    LoginResult login(const std::string& username, const std::string& password,
                      bool* immediate = nullptr) {
        std::optional<LoginResult> result;
        verifier_->verify(username, password, [&](const LoginResult& answer) { result = answer; });
        if (immediate != nullptr) {
            *immediate = result.has_value();
        }
        EXPECT_TRUE(inbox_.run_until([&] { return result.has_value(); }));
        return result.value_or(LoginResult{LoginOutcome::busy, "timed out", false});
    }

    std::unique_ptr<TenantSnapshots> snapshots_;
    std::unique_ptr<HashPool> pool_;
    std::unique_ptr<CredentialVerifier> verifier_;
    Inbox inbox_;
};

TEST_F(PolicyTest, SnapshotAnswersTheLookupsASessionNeeds) {
    auto snapshot = snapshots_->current();
    ASSERT_NE(snapshot->resource("acme/web"), nullptr);
    EXPECT_EQ(snapshot->resource("acme/web")->domains, std::vector<std::string>{"example.com"});
    EXPECT_EQ(snapshot->resource("acme/nope"), nullptr);
    EXPECT_TRUE(snapshot->has_domain("acme/web", "Example.COM"));
    EXPECT_FALSE(snapshot->has_domain("acme/web", "other.example"));
    EXPECT_FALSE(snapshot->has_domain("acme/api", "example.com"));
    EXPECT_EQ(snapshot->owner_of_domain("example.com"), "acme/web");
    EXPECT_EQ(snapshot->owner_of_domain("example.org"), "");
}

TEST_F(PolicyTest, RefreshPublishesOnlyWhenTheStoreChanged) {
    auto before = snapshots_->current();
    auto unchanged = snapshots_->refresh();
    ASSERT_TRUE(unchanged);
    EXPECT_FALSE(unchanged.value());
    EXPECT_EQ(snapshots_->current(), before);
    ASSERT_TRUE(store_->add_domain("acme/web", "example.org"));
    auto changed = snapshots_->refresh();
    ASSERT_TRUE(changed);
    EXPECT_TRUE(changed.value());
    EXPECT_TRUE(snapshots_->current()->has_domain("acme/web", "example.org"));
    EXPECT_FALSE(before->has_domain("acme/web", "example.org"));  // old snapshots never change
}

TEST_F(PolicyTest, RefreshThreadSeesAnotherHandlesWriteWithinTheInterval) {
    ASSERT_TRUE(snapshots_->start(20));
    auto writer = store::open_lmdb_tenant_store({(root_ / "store").string(), 64ull << 20});
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer.value()->add_project("beta", {}));
    auto start = std::chrono::steady_clock::now();
    while (snapshots_->current()->projects() != 2 &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(snapshots_->current()->projects(), 2u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    snapshots_->stop();
}

TEST_F(PolicyTest, RightPasswordIsAcceptedAndThenRemembered) {
    start_verifier();
    bool immediate = true;
    LoginResult first = login("acme/web", "right", &immediate);
    EXPECT_EQ(first.outcome, LoginOutcome::accepted);
    EXPECT_FALSE(first.remembered);
    EXPECT_FALSE(immediate);  // hashed elsewhere, answered through the inbox
    EXPECT_TRUE(inbox_.posted_from_pool());
    LoginResult second = login("acme/web", "right", &immediate);
    EXPECT_EQ(second.outcome, LoginOutcome::accepted);
    EXPECT_TRUE(second.remembered);
    EXPECT_TRUE(immediate);
    EXPECT_EQ(verifier_->remembered(), 1u);
}

TEST_F(PolicyTest, WrongPasswordAndUnknownUserAreRejectedAndNotRemembered) {
    start_verifier();
    EXPECT_EQ(login("acme/web", "wrong").outcome, LoginOutcome::rejected);
    EXPECT_EQ(login("acme/web", "wrong").outcome, LoginOutcome::rejected);
    EXPECT_EQ(login("acme/nobody", "right").outcome, LoginOutcome::rejected);
    EXPECT_EQ(login("acme/web", "").outcome, LoginOutcome::rejected);
    EXPECT_EQ(verifier_->remembered(), 0u);
    EXPECT_TRUE(inbox_.posted_from_pool());
}

TEST_F(PolicyTest, NewPasswordEndsTheRememberedLogin) {
    start_verifier();
    ASSERT_EQ(login("acme/web", "right").outcome, LoginOutcome::accepted);
    ASSERT_TRUE(login("acme/web", "right").remembered);
    set_password("acme/web", "new", false);
    ASSERT_TRUE(snapshots_->refresh());
    LoginResult old_password = login("acme/web", "right");
    EXPECT_EQ(old_password.outcome, LoginOutcome::rejected);
    EXPECT_EQ(verifier_->remembered(), 0u);
    EXPECT_EQ(login("acme/web", "new").outcome, LoginOutcome::accepted);
    EXPECT_TRUE(login("acme/web", "new").remembered);
}

TEST_F(PolicyTest, RemovedResourceEndsTheRememberedLogin) {
    start_verifier();
    ASSERT_EQ(login("acme/web", "right").outcome, LoginOutcome::accepted);
    ASSERT_TRUE(store_->remove_resource("acme/web"));
    ASSERT_TRUE(snapshots_->refresh());
    EXPECT_EQ(login("acme/web", "right").outcome, LoginOutcome::rejected);
}

TEST_F(PolicyTest, SameCredentialsOfAnotherUsernameAreNotTakenForRemembered) {
    set_password("acme/api", "right", true);
    ASSERT_TRUE(snapshots_->refresh());
    start_verifier();
    ASSERT_EQ(login("acme/web", "right").outcome, LoginOutcome::accepted);
    LoginResult other = login("acme/api", "right");
    EXPECT_EQ(other.outcome, LoginOutcome::accepted);
    EXPECT_FALSE(other.remembered);
}

TEST_F(PolicyTest, FullQueueAnswersBusyAtOnce) {
    start_verifier({1, 1, fast_hash});
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> running;
    ASSERT_TRUE(pool_->submit([&running, released] {
        running.set_value();
        released.wait();
    }));
    running.get_future().wait();  // the only thread is busy...
    std::promise<void> drained;
    ASSERT_TRUE(pool_->submit([&drained] { drained.set_value(); }));  // the queue's one slot
    bool immediate = false;
    LoginResult busy = login("acme/web", "right", &immediate);
    EXPECT_EQ(busy.outcome, LoginOutcome::busy);
    EXPECT_TRUE(immediate);
    release.set_value();
    drained.get_future().wait();  // the queue is empty again
    EXPECT_EQ(login("acme/web", "right").outcome, LoginOutcome::accepted);
}

TEST_F(PolicyTest, LoginsWithTheSameCredentialsAtOnceShareOneHash) {
    // One hashing thread, held, and a queue of one slot: without sharing, the second and third
    // logins would be answered busy.
    start_verifier({1, 1, fast_hash});
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> running;
    ASSERT_TRUE(pool_->submit([&running, released] {
        running.set_value();
        released.wait();
    }));
    running.get_future().wait();
    std::vector<std::optional<LoginResult>> results(4);
    for (std::size_t index = 0; index < 3; ++index) {
        verifier_->verify("acme/web", "right", [&results, index](const LoginResult& answer) {
            results[index] = answer;
        });
    }
    // Other credentials are not taken for the same check: the queue is full for them.
    verifier_->verify("acme/web", "wrong",
                      [&results](const LoginResult& answer) { results[3] = answer; });
    ASSERT_TRUE(results[3].has_value());
    EXPECT_EQ(results[3]->outcome, LoginOutcome::busy);
    EXPECT_FALSE(results[0] || results[1] || results[2]);  // all three wait for the one check
    release.set_value();
    ASSERT_TRUE(inbox_.run_until([&] { return results[0] && results[1] && results[2]; }));
    int hashed = 0;
    for (std::size_t index = 0; index < 3; ++index) {
        EXPECT_EQ(results[index]->outcome, LoginOutcome::accepted);
        hashed += results[index]->remembered ? 0 : 1;
    }
    EXPECT_EQ(hashed, 1);
}

TEST_F(PolicyTest, LoginsWaitingForAWrongPasswordAreRejectedWithIt) {
    start_verifier();
    std::vector<std::optional<LoginResult>> results(2);
    for (std::size_t index = 0; index < 2; ++index) {
        verifier_->verify("acme/web", "wrong", [&results, index](const LoginResult& answer) {
            results[index] = answer;
        });
    }
    ASSERT_TRUE(inbox_.run_until([&] { return results[0] && results[1]; }));
    EXPECT_EQ(results[0]->outcome, LoginOutcome::rejected);
    EXPECT_EQ(results[1]->outcome, LoginOutcome::rejected);
    EXPECT_EQ(verifier_->remembered(), 0u);
    // The check is over: the next one hashes again.
    bool immediate = true;
    EXPECT_EQ(login("acme/web", "right", &immediate).outcome, LoginOutcome::accepted);
    EXPECT_FALSE(immediate);
}

TEST_F(PolicyTest, RememberedLoginsAreBounded) {
    ASSERT_TRUE(store_->set_quota("acme", {10, std::nullopt}));
    for (int index = 0; index < 4; ++index) {
        set_password("acme/r" + std::to_string(index), "pw", true);
    }
    ASSERT_TRUE(snapshots_->refresh());
    start_verifier({1, 16, fast_hash}, 2);
    for (int index = 0; index < 4; ++index) {
        ASSERT_EQ(login("acme/r" + std::to_string(index), "pw").outcome, LoginOutcome::accepted);
        EXPECT_LE(verifier_->remembered(), 2u);
    }
}

}  // namespace
}  // namespace relay::policy
