// queue_selector.cc -- which messages an operator's queue command applies to, by the resource
// that sent them (the recipient side, by domain, is in delivery.cc).
//
// Thread: the worker that owns the messages. Pure: no I/O.
#include "relay/base/ascii.h"
#include "relay/delivery/delivery.h"
#include "relay/smtp/address.h"

namespace relay::delivery {

bool QueueSelector::matches_message(const spool::QueuedMessage& message) const {
    // Case as AUTH compares usernames; an empty filter keeps every message.
    return resource.empty() || ascii_lower(message.envelope.resource) == ascii_lower(resource);
}

}  // namespace relay::delivery
