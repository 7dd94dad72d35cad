// connection_limits.cc -- admission by total and per-client connection counts.
#include "relay/ingress/connection_limits.h"

#include <chrono>
#include <functional>

namespace relay::ingress {

ConnectionLimits::Stripe& ConnectionLimits::stripe_for(const std::string& client_ip) {
    return stripes_[std::hash<std::string>()(client_ip) % stripes];
}

ConnectionLimits::Admission ConnectionLimits::admit_counts(const std::string& client_ip) {
    if (total_.fetch_add(1, std::memory_order_relaxed) >=
        total_max_.load(std::memory_order_relaxed)) {
        total_.fetch_sub(1, std::memory_order_relaxed);
        return Admission::too_many_total;
    }
    Stripe& stripe = stripe_for(client_ip);
    std::lock_guard lock(stripe.mutex);
    std::uint32_t& count = stripe.counts[client_ip];
    if (count >= per_client_max_.load(std::memory_order_relaxed)) {
        if (count == 0) {
            stripe.counts.erase(client_ip);
        }
        total_.fetch_sub(1, std::memory_order_relaxed);
        return Admission::too_many_from_client;
    }
    ++count;
    return Admission::admitted;
}

// The rate last, outside the stripe's lock, so that only connections admitted otherwise are
// counted; refused there, the counts just taken are returned. On the engine's monotonic clock,
// shared by every worker.
ConnectionLimits::Admission ConnectionLimits::admit(const std::string& client_ip) {
    Admission admission = admit_counts(client_ip);
    if (admission != Admission::admitted || !client_rate_ || client_rate_->per_minute() == 0) {
        return admission;
    }
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    if (client_rate_->admit(client_ip, now_ms)) {
        return Admission::admitted;
    }
    release(client_ip);
    return Admission::too_many_per_minute_from_client;
}

void ConnectionLimits::release(const std::string& client_ip) {
    total_.fetch_sub(1, std::memory_order_relaxed);
    Stripe& stripe = stripe_for(client_ip);
    std::lock_guard lock(stripe.mutex);
    auto found = stripe.counts.find(client_ip);
    if (found != stripe.counts.end() && --found->second == 0) {
        stripe.counts.erase(found);
    }
}

}  // namespace relay::ingress
