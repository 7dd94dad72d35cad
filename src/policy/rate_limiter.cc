// rate_limiter.cc -- the table of resource budgets, rebuilt with each tenant snapshot.
#include "relay/policy/rate_limiter.h"

#include "relay/base/assert.h"

namespace relay::policy {
namespace {

std::atomic<std::uint64_t> next_limiter_id{1};

// One copy per thread, of the last limiter it asked (a process has one; tests have several, and
// switching between them only costs a reload).
struct ThreadTable {
    std::uint64_t limiter = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const void> table;
};
thread_local ThreadTable thread_table;

}  // namespace

RateLimiter::RateLimiter()
    : id_(next_limiter_id.fetch_add(1)), table_(std::make_shared<const Table>()) {}

// update() stores the table before it moves the version (release), so a thread that sees the
// new version loads the new table.
const RateLimiter::Table& RateLimiter::table() const {
    std::uint64_t version = version_.load(std::memory_order_acquire);
    if (thread_table.limiter != id_ || thread_table.version != version || !thread_table.table) {
        thread_table.table = table_.load();
        thread_table.limiter = id_;
        thread_table.version = version;
    }
    return *static_cast<const Table*>(thread_table.table.get());
}

void RateLimiter::update(const TenantSnapshot& snapshot, std::int64_t now_ms) {
    std::shared_ptr<const Table> previous = table_.load();
    auto next = std::make_shared<Table>();
    snapshot.for_each_resource([&](const store::ResourceRecord& resource) {
        std::string username = resource.username();
        Entry entry;
        auto found = previous->find(username);
        if (found == previous->end()) {
            entry.rate =
                std::make_shared<ResourceRate>(resource.rate_messages, resource.rate_window_s);
            entry.logins = std::make_shared<std::atomic<std::uint32_t>>(0);
        } else {
            const Entry& old = found->second;
            entry.logins = old.logins;
            if (old.rate->messages() == resource.rate_messages &&
                old.rate->window_s() == resource.rate_window_s) {
                entry.rate = old.rate;
                entry.leased = old.leased;
            } else {
                entry.rate = std::make_shared<ResourceRate>(
                    resource.rate_messages, resource.rate_window_s, *old.rate, now_ms);
            }
        }
        if (fleet() && !entry.leased) {
            entry.leased = std::make_shared<LeasedBudget>(username, resource.rate_messages,
                                                          resource.rate_window_s, fleet_.entries);
        }
        next->emplace(std::move(username), std::move(entry));
    });
    // A budget no longer in the table (limit changed, resource removed) gives its units back.
    for (const auto& [username, entry] : *previous) {
        auto found = next->find(username);
        if (entry.leased && (found == next->end() || found->second.leased != entry.leased)) {
            entry.leased->retire();
        }
    }
    table_.store(std::move(next));
    version_.fetch_add(1, std::memory_order_release);
}

RateAdmission RateLimiter::acquire(std::string_view username, std::int64_t now_ms) const {
    // A retired budget sends the caller to its successor, published with the next table; a
    // few tries cover an update running meanwhile, and past them the client retries shortly.
    constexpr int tries_max = 4;
    RateAdmission admission;
    for (int attempt = 0; attempt < tries_max; ++attempt) {
        const Table& table = this->table();
        auto found = table.find(username);
        if (found == table.end()) {
            return RateAdmission{};
        }
        ResourceRate& rate = *found->second.rate;
        admission.known = true;
        admission.messages = rate.messages();
        admission.window_s = rate.window_s();
        if (found->second.leased) {
            return acquire_leased(found->second, admission, now_ms);
        }
        RateDecision decision = rate.acquire(now_ms);
        if (decision.outcome == RateDecision::Outcome::taken) {
            admission.unit = RateUnit{found->second.rate, decision.taken};
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

void RateLimiter::enable_fleet(FleetOptions options) {
    RELAY_ASSERT(options.health != nullptr && options.entries >= 1);
    fleet_ = std::move(options);
}

void RateLimiter::for_each_leased(
    const std::function<void(const std::shared_ptr<LeasedBudget>&)>& f) const {
    std::shared_ptr<const Table> current = table_.load();
    for (const auto& [username, entry] : *current) {
        if (entry.leased) {
            f(entry.leased);
        }
    }
}

// Cluster mode: a leased unit, or why there is none. Within the grace a node that knows the
// limit reached says so (451 4.7.1); past it, or without that knowledge, Redis's absence is
// the answer (451 4.3.0).
RateAdmission RateLimiter::acquire_leased(const Entry& entry, RateAdmission admission,
                                          std::int64_t now_ms) const {
    LeasedBudget& budget = *entry.leased;
    if (std::optional<LeasedUnit> unit = budget.take(now_ms)) {
        admission.unit = RateUnit{nullptr, {}, entry.leased, *unit};
        return admission;
    }
    if (budget.note_starved() && fleet_.wake) {
        fleet_.wake(entry.leased);
    }
    std::int64_t down_since_ms = fleet_.health->down_since_ms.load(std::memory_order_acquire);
    std::int64_t full_until_ms = budget.full_until_ms();
    bool known_full = full_until_ms > now_ms;
    if (down_since_ms != 0 && (!known_full || now_ms - down_since_ms >= fleet_.grace_ms)) {
        admission.unavailable = true;
    } else if (known_full) {
        admission.retry_after_ms = full_until_ms - now_ms;
        admission.wait = budget.contended();
    } else {
        admission.wait = true;
    }
    return admission;
}

void RateLimiter::give_back(RateUnit& unit) {
    if (unit.leased) {
        unit.leased->give_back(unit.leased_unit);
        unit.leased.reset();
    }
    if (unit.rate) {
        unit.rate->give_back(unit.slot);
        unit.rate.reset();
    }
}

std::optional<ResourceLogin> RateLimiter::admit_login(std::string_view username,
                                                      std::uint32_t max) const {
    const Table& table = this->table();
    auto found = table.find(username);
    if (found == table.end()) {
        return ResourceLogin{};
    }
    std::atomic<std::uint32_t>& count = *found->second.logins;
    std::uint32_t seen = count.load();
    do {
        if (seen >= max) {
            return std::nullopt;
        }
    } while (!count.compare_exchange_weak(seen, seen + 1));
    return ResourceLogin{found->second.logins};
}

void RateLimiter::end_login(ResourceLogin& login) {
    if (login.count) {
        login.count->fetch_sub(1);
        login.count.reset();
    }
}

std::uint32_t RateLimiter::logins(std::string_view username) const {
    const Table& table = this->table();
    auto found = table.find(username);
    return found == table.end() ? 0 : found->second.logins->load();
}

}  // namespace relay::policy
