// return_path.h -- the envelope sender a delivery transaction uses: the client's own, the
// resource's return path, or the technical bounce address (VERP, bounce/verp.h).
//
// Which one, in this order: a message relayd made itself (a DSN) or one with the null sender
// keeps its null MAIL FROM; a message that carries a resource return path (fixed when it was
// accepted) goes out with it as it is; with [return_path] bounce_domain configured, each
// recipient gets bounces+TOKEN@BOUNCE-DOMAIN, so it is a transaction of its own; otherwise the
// client's sender as it gave it. The stored message is never changed.
//
// Pure: reads the envelope, returns a string. Thread: any.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "relay/config/config.h"
#include "relay/spool/message_record.h"

namespace relay::delivery {

// Whether each recipient of `message` goes in a transaction of its own (one per VERP address).
bool uses_verp(const config::ReturnPath& return_path, const spool::QueuedMessage& message);

// The MAIL FROM address of a transaction carrying `recipients` (indexes into
// message.recipients). Under VERP `recipients` holds one index; a token that cannot be made (an
// index past bounce::verp_recipient_index_max) falls back to the client's sender.
std::string envelope_sender(const config::ReturnPath& return_path,
                            const spool::QueuedMessage& message,
                            std::span<const std::uint32_t> recipients);

}  // namespace relay::delivery
