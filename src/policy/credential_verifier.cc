// credential_verifier.cc -- remembered logins on the worker, Argon2id checks on the hash pool.
#include "relay/policy/credential_verifier.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <cstring>

#include "relay/policy/password.h"

namespace relay::policy {

std::size_t CredentialVerifier::MacHash::operator()(const Mac& mac) const {
    std::size_t value = 0;
    std::memcpy(&value, mac.data(), sizeof value);  // a MAC is already uniformly distributed
    return value;
}

Result<std::unique_ptr<CredentialVerifier>> CredentialVerifier::create(
    const TenantSnapshots& snapshots, HashPool& pool, Post post, std::size_t remembered_max) {
    std::unique_ptr<CredentialVerifier> verifier(
        new CredentialVerifier(snapshots, pool, std::move(post)));
    if (Status key = random_bytes(verifier->key_.data(), verifier->key_.size()); !key) {
        return key.error();
    }
    verifier->state_->remembered_max = remembered_max;
    return verifier;
}

CredentialVerifier::Mac CredentialVerifier::login_mac(std::string_view username,
                                                      std::string_view password) const {
    // The username's length first, so that no two (username, password) pairs share an input.
    std::uint64_t username_bytes = username.size();
    Hmac hmac;
    Mac mac{};
    int code = wc_HmacInit(&hmac, nullptr, INVALID_DEVID);
    code = code != 0 ? code : wc_HmacSetKey(&hmac, WC_SHA256, key_.data(), key_.size());
    code = code != 0 ? code
                     : wc_HmacUpdate(&hmac, reinterpret_cast<const byte*>(&username_bytes),
                                     sizeof username_bytes);
    code = code != 0 ? code
                     : wc_HmacUpdate(&hmac, reinterpret_cast<const byte*>(username.data()),
                                     static_cast<word32>(username.size()));
    code = code != 0 ? code
                     : wc_HmacUpdate(&hmac, reinterpret_cast<const byte*>(password.data()),
                                     static_cast<word32>(password.size()));
    code = code != 0 ? code : wc_HmacFinal(&hmac, mac.data());
    wc_HmacFree(&hmac);
    RELAY_ASSERT(code == 0);  // HMAC-SHA256 over memory has no operating failure
    return mac;
}

void CredentialVerifier::remember(State& state, const Mac& mac, Remembered login) {
    if (state.remembered_max == 0) {
        return;
    }
    if (state.logins.size() >= state.remembered_max && !state.logins.contains(mac)) {
        state.logins.erase(state.logins.begin());
    }
    state.logins.insert_or_assign(mac, std::move(login));
}

void CredentialVerifier::answer_waiting(State& state, const Mac& mac, bool accepted,
                                        const std::string& username) {
    auto waiting = state.pending.find(mac);
    if (waiting == state.pending.end()) {
        return;
    }
    std::vector<Reply> replies = std::move(waiting->second);
    state.pending.erase(waiting);
    for (Reply& reply : replies) {
        reply(LoginResult{accepted ? LoginOutcome::accepted : LoginOutcome::rejected, username,
                          true});
    }
}

void CredentialVerifier::verify(std::string_view username, std::string_view password, Reply reply) {
    std::shared_ptr<const TenantSnapshot> snapshot = snapshots_.current();
    const store::ResourceRecord* resource = snapshot->resource(username);
    Mac mac = login_mac(username, password);
    auto found = state_->logins.find(mac);
    if (found != state_->logins.end()) {
        if (resource != nullptr && found->second.username == username &&
            found->second.password_generation == resource->password_generation) {
            reply(LoginResult{LoginOutcome::accepted, std::string(username), true});
            return;
        }
        state_->logins.erase(found);  // the password changed or the resource went away
    }
    if (auto waiting = state_->pending.find(mac); waiting != state_->pending.end()) {
        waiting->second.push_back(std::move(reply));  // the same check is already on the pool
        return;
    }
    auto answer = std::make_shared<Reply>(std::move(reply));
    auto job = [hash = resource != nullptr ? resource->password_hash : pool_.stand_in_hash(),
                known = resource != nullptr,
                password_generation = resource != nullptr ? resource->password_generation : 0,
                username = std::string(username), password = std::string(password), mac,
                state = std::weak_ptr<State>(state_), post = post_, answer]() mutable {
        RELAY_ASSERT(HashPool::on_pool_thread());
        bool accepted = password_matches(hash, password) && known;
        std::fill(password.begin(), password.end(), '\0');
        post([accepted, password_generation, username = std::move(username), mac, state, answer]() {
            std::shared_ptr<State> alive = state.lock();
            if (accepted && alive) {
                remember(*alive, mac, Remembered{username, password_generation});
            }
            (*answer)(LoginResult{accepted ? LoginOutcome::accepted : LoginOutcome::rejected,
                                  username, false});
            if (alive) {
                answer_waiting(*alive, mac, accepted, username);
            }
        });
    };
    state_->pending.try_emplace(mac);
    if (!pool_.submit(std::move(job))) {
        state_->pending.erase(mac);  // nothing waits yet: verify runs on this thread only
        (*answer)(LoginResult{LoginOutcome::busy, std::string(username), false});
    }
}

}  // namespace relay::policy
