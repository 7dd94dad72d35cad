// return_path.cc -- choosing a transaction's envelope sender (see return_path.h).
//
// Thread: any (pure). Never: rewrite the null sender of a DSN (RFC 3464 §2, RFC 5321 §4.5.5),
// which would let a bounce bounce.
#include "relay/delivery/return_path.h"

#include "relay/base/assert.h"
#include "relay/bounce/verp.h"

namespace relay::delivery {

bool uses_verp(const config::ReturnPath& return_path, const spool::QueuedMessage& message) {
    const spool::Envelope& envelope = message.envelope;
    return !return_path.bounce_domain.empty() && !envelope.reverse_path.empty() &&
           envelope.origin == spool::Origin::client && envelope.return_path.empty();
}

std::string envelope_sender(const config::ReturnPath& return_path,
                            const spool::QueuedMessage& message,
                            std::span<const std::uint32_t> recipients) {
    const spool::Envelope& envelope = message.envelope;
    if (envelope.reverse_path.empty() || envelope.origin != spool::Origin::client) {
        return envelope.reverse_path;
    }
    if (!envelope.return_path.empty()) {
        return envelope.return_path;
    }
    if (!uses_verp(return_path, message)) {
        return envelope.reverse_path;
    }
    RELAY_ASSERT(recipients.size() == 1);
    RELAY_ASSERT(recipients[0] < message.recipients.size());
    bounce::VerpMessage verp;
    verp.queue_id = message.id;
    verp.resource = envelope.resource;
    verp.recipient_index = recipients[0];
    verp.recipient = message.recipients[recipients[0]].address;
    auto address = bounce::verp_address(return_path.key, verp, return_path.bounce_domain);
    if (!address) {
        return envelope.reverse_path;
    }
    return address.value();
}

}  // namespace relay::delivery
