// message_id.h -- the Message-ID: relayd gives a message that arrived without one.
//
// RFC 5322 §3.6.4 says every message should have one, and receivers' filters count its absence
// against the sender. relayd makes "<QUEUEID.RANDOM@HOSTNAME>" at acceptance: the queue id ties
// it to relayd's log, RANDOM (16 hex digits from getrandom) keeps it unique across relays that
// share a host name, and the host name is [server] hostname. It is kept in the spool record
// (spool/message_record.h), covered by the message's DKIM signatures (made over the header
// block with the field in front, where delivery prepends it), never written into the stored
// message.
//
// Untrusted bytes: the header block. Thread: any worker (a thread-local generator each).
#pragma once

#include <string>
#include <string_view>

#include "relay/message/message_pass.h"
#include "relay/spool/queue_id.h"

namespace relay::ingress::internal {

// Whether the header block has a Message-ID field (the name in any case).
bool has_message_id(const message::HeaderBlock& headers);

// "<QUEUEID.RANDOM@HOSTNAME>".
std::string make_message_id(spool::QueueId id, std::string_view hostname);

// The field as delivery prepends it: "Message-ID: " + msg-id + CRLF.
std::string message_id_field(std::string_view message_id);

}  // namespace relay::ingress::internal
