// tenant_snapshots.cc -- the refresh thread: compare generations, rebuild, publish.
#include "relay/policy/tenant_snapshots.h"

#include "relay/base/log.h"

namespace relay::policy {

TenantSnapshots::TenantSnapshots(store::TenantStore& store)
    : store_(store), current_(TenantSnapshot::build(store::TenantData{})) {}

TenantSnapshots::~TenantSnapshots() {
    stop();
}

Result<bool> TenantSnapshots::refresh() {
    auto generation = store_.generation();
    if (!generation) {
        return generation.error();
    }
    std::shared_ptr<const TenantSnapshot> previous = current();
    if (previous->generation() == *generation) {
        return false;
    }
    auto data = store_.load();
    if (!data) {
        return data.error();
    }
    if (data->generation == previous->generation()) {
        return false;
    }
    std::shared_ptr<const TenantSnapshot> next = TenantSnapshot::build(std::move(data.value()));
    if (before_publish_) {
        before_publish_(*next);
    }
    current_.store(std::move(next));
    return true;
}

Status TenantSnapshots::start(std::uint32_t refresh_interval_ms) {
    auto first = refresh();
    if (!first) {
        return first.error();
    }
    thread_ = std::thread([this, refresh_interval_ms] { run(refresh_interval_ms); });
    return {};
}

void TenantSnapshots::stop() {
    {
        std::lock_guard lock(stop_mutex_);
        stopping_ = true;
    }
    stop_signal_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void TenantSnapshots::wake() {
    {
        std::lock_guard lock(stop_mutex_);
        woken_ = true;
    }
    stop_signal_.notify_all();
}

void TenantSnapshots::run(std::uint32_t refresh_interval_ms) {
    bool failing = false;
    std::unique_lock lock(stop_mutex_);
    while (true) {
        stop_signal_.wait_for(lock, std::chrono::milliseconds(refresh_interval_ms),
                              [this] { return stopping_ || woken_; });
        if (stopping_) {
            break;
        }
        woken_ = false;
        lock.unlock();
        auto refreshed = refresh();
        if (!refreshed && !failing) {  // said once, not every interval
            log::warning("tenants: {}; sessions keep the tenants of generation {}",
                         refreshed.error().message, current()->generation());
        } else if (refreshed && refreshed.value()) {
            std::shared_ptr<const TenantSnapshot> snapshot = current();
            log::info("tenants: generation {}: {} projects, {} resources, {} domains, {} DKIM keys",
                      snapshot->generation(), snapshot->projects(), snapshot->resources(),
                      snapshot->domains(), snapshot->dkim_keys().keys());
            for (const std::string& unusable : snapshot->dkim_keys().unusable()) {
                log::warning(
                    "tenants: DKIM key {} is left out: mail is signed with the "
                    "domain's other keys, if any",
                    unusable);
            }
        }
        failing = !refreshed;
        lock.lock();
    }
}

}  // namespace relay::policy
