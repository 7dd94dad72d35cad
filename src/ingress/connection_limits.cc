// connection_limits.cc -- admission by total and per-client connection counts.
#include "relay/ingress/connection_limits.h"

#include <functional>

namespace relay::ingress {

ConnectionLimits::Stripe& ConnectionLimits::stripe_for(const std::string& client_ip) {
    return stripes_[std::hash<std::string>()(client_ip) % stripes];
}

ConnectionLimits::Admission ConnectionLimits::admit(const std::string& client_ip) {
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
