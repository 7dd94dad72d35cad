// rate_limiter.cc -- the table of resource budgets, rebuilt with each tenant snapshot.
#include "relay/policy/rate_limiter.h"

namespace relay::policy {

RateLimiter::RateLimiter() : table_(std::make_shared<const Table>()) {}

void RateLimiter::update(const TenantSnapshot& snapshot, std::int64_t now_ms) {
    std::shared_ptr<const Table> previous = table_.load();
    auto next = std::make_shared<Table>();
    snapshot.for_each_resource([&](const store::ResourceRecord& resource) {
        std::string username = resource.username();
        std::shared_ptr<ResourceRate> rate;
        auto found = previous->find(username);
        if (found == previous->end()) {
            rate = std::make_shared<ResourceRate>(resource.rate_messages, resource.rate_window_s);
        } else if (found->second->messages() == resource.rate_messages &&
                   found->second->window_s() == resource.rate_window_s) {
            rate = found->second;
        } else {
            rate = std::make_shared<ResourceRate>(resource.rate_messages, resource.rate_window_s,
                                                  *found->second, now_ms);
        }
        next->emplace(std::move(username), std::move(rate));
    });
    table_.store(std::move(next));
}

RateAdmission RateLimiter::acquire(std::string_view username, std::int64_t now_ms) const {
    // A retired budget sends the caller to its successor, published with the next table; a
    // few tries cover an update running meanwhile, and past them the client retries shortly.
    constexpr int tries_max = 4;
    RateAdmission admission;
    for (int attempt = 0; attempt < tries_max; ++attempt) {
        std::shared_ptr<const Table> table = table_.load();
        auto found = table->find(username);
        if (found == table->end()) {
            return RateAdmission{};
        }
        ResourceRate& rate = *found->second;
        admission.known = true;
        admission.messages = rate.messages();
        admission.window_s = rate.window_s();
        RateDecision decision = rate.acquire(now_ms);
        if (decision.outcome == RateDecision::Outcome::taken) {
            admission.unit = RateUnit{found->second, decision.taken};
            return admission;
        }
        if (decision.outcome == RateDecision::Outcome::full) {
            admission.retry_after_ms = decision.retry_after_ms;
            return admission;
        }
    }
    admission.retry_after_ms = 1000;
    return admission;
}

void RateLimiter::give_back(RateUnit& unit) {
    if (unit.rate) {
        unit.rate->give_back(unit.slot);
        unit.rate.reset();
    }
}

}  // namespace relay::policy
