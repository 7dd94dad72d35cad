// lease_keeper.cc -- asking Redis for units and giving them back, one request per budget.
#include "relay/cluster/lease_keeper.h"

#include <chrono>

#include "relay/base/log.h"
#include "relay/cluster/lease_script.h"

namespace relay::cluster {

LeaseKeeper::LeaseKeeper(engine::Reactor& reactor, RedisLink& link, LeaseKeeperOptions options)
    : reactor_(reactor), link_(link), options_(std::move(options)) {}

LeaseKeeper::~LeaseKeeper() {
    reactor_.timers().cancel(timer_);
}

void LeaseKeeper::start() {
    tick();
}

void LeaseKeeper::wake(const std::shared_ptr<policy::LeasedBudget>& budget) {
    auto found = books_.find(budget.get());
    if (found == books_.end()) {
        found =
            books_.emplace(budget.get(), std::make_unique<LeaseBook>(budget, options_.book)).first;
    }
    serve(*found->second);
}

void LeaseKeeper::drain(std::uint32_t wait_ms, std::function<void()> done) {
    for (auto& [budget, book] : books_) {
        book->budget()->retire();
    }
    drain_until_ms_ = steady_ms() + wait_ms;
    drained_ = std::move(done);
}

void LeaseKeeper::tick() {
    if (drained_ && (books_.empty() || steady_ms() >= drain_until_ms_)) {
        if (!books_.empty()) {
            log::warning(
                "cluster: {} resources still hold leased units at exit; Redis frees "
                "them when their leases end",
                books_.size());
        }
        std::function<void()> done = std::move(drained_);
        drained_ = nullptr;
        done();
        return;
    }
    for (auto entry = books_.begin(); entry != books_.end();) {
        LeaseBook& book = *entry->second;
        serve(book);
        // A known-full budget stays for its recheck, unless it is retired.
        if (book.idle() &&
            (book.budget()->retired() || book.budget()->full_until_ms() <= steady_ms())) {
            entry = books_.erase(entry);
        } else {
            ++entry;
        }
    }
    timer_ = reactor_.timers().add(reactor_.now() + std::chrono::milliseconds(options_.tick_ms),
                                   [this] { tick(); });
}

// The book stays in books_ while its request is in flight (it is not idle), so the reply finds
// it.
void LeaseKeeper::serve(LeaseBook& book) {
    std::int64_t sent_ms = steady_ms();
    std::optional<LeaseRequest> request = book.next_request(sent_ms, link_.ready());
    if (!request) {
        return;
    }
    ScriptCall call =
        lease_script_call(*request, options_.node_id, options_.book.lease_ms, sent_ms);
    link_.run_script(
        call.keys, call.arguments, [this, book = &book, sent_ms](Result<RedisReply> reply) {
            Result<LeaseGrant> grant =
                reply ? parse_lease_reply(reply.value()) : Result<LeaseGrant>(reply.error());
            if (!grant) {
                if (!failing_) {
                    log::warning("cluster: lease for {} failed: {}", book->budget()->username(),
                                 grant.error().message);
                }
                failing_ = true;
                book->on_failure();
                return;
            }
            failing_ = false;
            book->on_grant(grant.value(), sent_ms, steady_ms());
        });
}

}  // namespace relay::cluster
