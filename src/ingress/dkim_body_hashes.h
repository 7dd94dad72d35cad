// dkim_body_hashes.h -- the DKIM body hashes of the message being received, taken in the message
// pass (the session's body observer), one per canonicalization the sender's keys use.
//
// The body is hashed once per canonicalization however many keys sign it: a domain with an RSA
// and an Ed25519 key under relaxed/relaxed feeds one hasher. Which canonicalizations are in use
// is read at the start of the message from the tenant snapshot: the keys of every domain of the
// authenticated resource (the From domain is not known until the header block ends, and the
// body starts right after it). The hashes go into the spool record (spool/message_record.h), so
// delivery signs without reading the body.
//
// Untrusted bytes: the body, fed in any pieces. Thread: the session's worker. A hasher (about
// 4.5 KiB, its staging buffer) is allocated per message that needs it, never per byte; an idle
// session holds two null pointers.
#pragma once

#include <memory>
#include <string_view>

#include "relay/dkim/body_hash.h"
#include "relay/message/message_pass.h"
#include "relay/policy/tenant_snapshot.h"
#include "relay/spool/message_record.h"

namespace relay::ingress::internal {

class DkimBodyHashes final : public message::BodyObserver {
  public:
    // Begins a message of `resource` (PROJECT/NAME; empty: not authenticated, nothing hashed).
    void start(const policy::TenantSnapshot* snapshot, std::string_view resource);
    // Whether any hasher runs: the session gives the message pass no observer otherwise.
    bool active() const { return relaxed_ != nullptr || simple_ != nullptr; }
    void body(std::string_view bytes) override;
    // Ends the body and writes the hashes into the envelope; the object is then idle.
    void finish_into(spool::Envelope& envelope);
    // Drops a message that is not committed.
    void reset();

  private:
    std::unique_ptr<dkim::BodyHasher> relaxed_;
    std::unique_ptr<dkim::BodyHasher> simple_;
};

}  // namespace relay::ingress::internal
