// credential_verifier.h -- one worker's check of an SMTP login (username PROJECT/NAME and
// password) against the tenant snapshot, answered asynchronously.
//
// A login this worker has already accepted is remembered: keyed by HMAC-SHA256(worker key,
// username, password) and holding the username and the resource's password generation. The
// next login with the same credentials is answered at once, inside `verify`, without hashing,
// as long as the snapshot still has that resource with that password generation; `relayctl
// resource passwd` (or removing the resource) makes the entry stale, and it is dropped when met.
// Only the MAC is kept, never the password. The MAC is a real MAC rather than a keyed fast
// hash (xxh3) because a hit skips Argon2id: a client must not be able to make a wrong password
// collide with a remembered one; it costs about a microsecond. The key is random per worker.
//
// Anything else goes to the hash pool: the pool thread checks the password against the
// resource's Argon2id hash (or, for an unknown username, against a stand-in hash, so that both
// take as long) and posts the answer back to this worker through `post` (the worker's inbox);
// the worker then remembers an accepted login and calls `reply`. When the pool's queue is full
// the answer is `busy` at once.
//
// Logins with the same credentials that arrive while their check is on the pool wait for that
// check instead of queueing their own (answered with it, as `remembered`: they cost no hash). A
// client that opens many connections at once, as a sending server does after a restart, so
// pays one hash per worker rather than one per connection, and takes one slot of the pool's
// queue. The waiting list is bounded by the worker's sessions (each waits for one login).
//
// Remembered logins are per worker (workers share nothing mutable), bounded by
// `remembered_max`: a full table drops an arbitrary entry. A client spread over N workers pays
// the hash at most N times per password.
//
// Thread: created, used and destroyed on one worker thread. `reply` runs on that thread; it
// must itself guard against its session having gone away.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/base/result.h"
#include "relay/policy/hash_pool.h"
#include "relay/policy/tenant_snapshots.h"

namespace relay::policy {

enum class LoginOutcome {
    accepted,
    rejected,  // unknown username or wrong password (the client is not told which)
    busy,      // the hash pool is full: try again later
};

struct LoginResult {
    LoginOutcome outcome = LoginOutcome::rejected;
    std::string username;     // PROJECT/NAME as given
    bool remembered = false;  // answered without hashing
};

class CredentialVerifier {
  public:
    // Runs `task` on the verifier's own thread later (a worker: Reactor::post).
    using Post = std::function<void(std::function<void()>)>;
    using Reply = std::function<void(const LoginResult&)>;

    static Result<std::unique_ptr<CredentialVerifier>> create(const TenantSnapshots& snapshots,
                                                              HashPool& pool, Post post,
                                                              std::size_t remembered_max);

    void verify(std::string_view username, std::string_view password, Reply reply);
    std::size_t remembered() const { return state_->logins.size(); }

  private:
    using Mac = std::array<unsigned char, 32>;
    struct MacHash {
        std::size_t operator()(const Mac& mac) const;
    };
    struct Remembered {
        std::string username;
        std::uint64_t password_generation = 0;
    };
    // Shared with answers in flight, which find it gone if the verifier was destroyed.
    struct State {
        std::unordered_map<Mac, Remembered, MacHash> logins;
        // Checks on the pool, by credentials: the replies of the logins waiting for each.
        std::unordered_map<Mac, std::vector<Reply>, MacHash> pending;
        std::size_t remembered_max = 0;
    };

    CredentialVerifier(const TenantSnapshots& snapshots, HashPool& pool, Post post)
        : snapshots_(snapshots), pool_(pool), post_(std::move(post)) {}
    Mac login_mac(std::string_view username, std::string_view password) const;
    static void remember(State& state, const Mac& mac, Remembered login);
    static void answer_waiting(State& state, const Mac& mac, bool accepted,
                               const std::string& username);

    const TenantSnapshots& snapshots_;
    HashPool& pool_;
    Post post_;
    std::array<unsigned char, 32> key_{};
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace relay::policy
