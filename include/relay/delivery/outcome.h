// outcome.h -- what happened to one recipient of one message, reported to whoever listens.
//
// Delivery reports every recipient outcome through this one interface: the log listens today;
// stop lists (hard bounces) and statistics subscribe to the same calls.
//
// Thread: the worker that owns the message; listeners must not block.
#pragma once

#include <cstddef>
#include <string>

#include "relay/spool/message_record.h"

namespace relay::delivery {

struct RecipientOutcome {
    enum class Kind { delivered, deferred, failed };
    Kind kind = Kind::deferred;
    std::string remote;  // "mx.example.net[192.0.2.1]:25", empty when relay decided
    std::string reply;   // the server's reply, or relay's reason
    // The TLS version of the connection that had the reply ("TLSv1.3"); empty: plaintext, or
    // relay decided.
    std::string tls_version;
    std::string tls;  // with a remote: "mta-sts-enforce/verified" (connections.cc)
};

const char* outcome_kind_name(RecipientOutcome::Kind kind);

class OutcomeListener {
  public:
    virtual void on_outcome(const spool::QueuedMessage& message, std::size_t recipient,
                            const RecipientOutcome& outcome) = 0;

  protected:
    ~OutcomeListener() = default;
};

}  // namespace relay::delivery
