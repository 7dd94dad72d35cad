// shaping.cc -- which limits apply to a destination: a [[shaping]] rule whose domain is the
// destination's domain or a parent of it, else the [delivery] defaults.
#include <string_view>

#include "delivery_internal.h"

namespace relay::delivery {
namespace {

// `domain` is `rule` or a subdomain of it ("mx.gmail.com" is under "gmail.com").
bool under(std::string_view domain, std::string_view rule) {
    if (domain.size() == rule.size()) {
        return domain == rule;
    }
    return domain.size() > rule.size() && domain.ends_with(rule) &&
           domain[domain.size() - rule.size() - 1] == '.';
}

}  // namespace

const config::Shaping* Delivery::shaping_rule(const Destination& destination) const {
    // A smarthost route carries every domain: it is one destination with the defaults.
    if (destination.route != nullptr && destination.route->domain == "*") {
        return nullptr;
    }
    // The longest matching rule wins, so that "eu.example.com" can differ from "example.com".
    const config::Shaping* chosen = nullptr;
    for (const config::Shaping& rule : current().delivery.shaping) {
        if (under(destination.domain, rule.domain) &&
            (chosen == nullptr || rule.domain.size() > chosen->domain.size())) {
            chosen = &rule;
        }
    }
    return chosen;
}

Delivery::Shape Delivery::shape_of(const Destination& destination) const {
    const config::Delivery& defaults = current().delivery;
    Shape shape{destination.key, defaults.connections_per_host_max,
                defaults.messages_per_connection_max, 0};
    if (const config::Shaping* chosen = shaping_rule(destination)) {
        shape.budget_key = "shaping:" + chosen->domain;
        if (chosen->connections_max != 0) {
            shape.connections_max = chosen->connections_max;
        }
        if (chosen->messages_per_connection_max != 0) {
            shape.messages_per_connection_max = chosen->messages_per_connection_max;
        }
        shape.messages_per_second = chosen->messages_per_second;
    }
    return shape;
}

}  // namespace relay::delivery
