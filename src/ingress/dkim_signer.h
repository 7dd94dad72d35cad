// dkim_signer.h -- the DKIM-Signature fields of an accepted message, made at commit time from
// the stored header block, the body hashes taken in the message pass and
// the keys of the From domain in the tenant snapshot.
//
// Why here and not at delivery: at commit the header block is in memory, so delivery needs to
// read nothing to sign (the fields go into the spool record and are prepended as they are), and
// a message is signed once however many deliveries and retries it takes. It runs on relayd's
// signing thread (an RSA-2048 signature is 0.4 ms, which on the worker held up its other
// sessions: docs/dkim.md, "Where signing runs"), or on the worker when that thread's queue is
// full.
//
// Keys: a dkim::PrivateKey signs on one thread at a time, so each thread keeps its own copies,
// loaded from the snapshot's PEM on first use and dropped when the snapshot's generation
// changes. A domain without keys is sent unsigned and logged once per thread (bounded set).
//
// Untrusted bytes: the header block. Thread: one signer per thread (thread_local), used only
// there.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/config.h"
#include "relay/dkim/key.h"
#include "relay/policy/tenant_snapshot.h"
#include "relay/spool/message_record.h"

namespace relay::ingress::internal {

class DkimSigner {
  public:
    // The fields (each with its CRLF) for `envelope`, whose body hashes are set, of a message
    // whose From domain is `domain` (lower case); empty when the domain has no usable key.
    // `settings` says which fields are signed and for how long ([dkim] in the configuration).
    std::vector<std::string> sign(const policy::TenantSnapshot& snapshot,
                                  const config::Dkim& settings, std::string_view domain,
                                  std::string_view header_block, const spool::Envelope& envelope,
                                  std::int64_t now_s);

  private:
    dkim::PrivateKey* key_for(const policy::DkimSigningKey& key);
    void note_unsigned(std::string_view domain, std::string_view why);

    static constexpr std::size_t unsigned_domains_logged_max = 10'000;
    std::uint64_t generation_ = 0;
    std::map<std::string, dkim::PrivateKey, std::less<>> keys_;  // DOMAIN/SELECTOR
    std::set<std::string, std::less<>> unsigned_domains_logged_;
};

}  // namespace relay::ingress::internal
