// policy_cache.h -- MTA-STS policies known per domain, until their max_age runs out, and the
// text they are kept in across restarts.
//
// RFC 8461 §5: a policy is used until it expires (fetched + max_age), even when its server or
// its TXT record can no longer be reached; a new TXT id makes it refetched. The cache holds at
// most entries_max domains; when full, the entry that expires first makes room.
//
// The saved form (policy_service.cc writes it to <spool>/mta-sts-policies) is text, one line per
// domain after a header line:
//   relay-mta-sts-policies 1
//   <domain> <id> <fetched_unix_s> <expires_unix_s> <mode> <max_age_s> [<mx pattern>...]
// decode() refuses a file that does not start with the header; a damaged line is skipped (it is
// fetched again when needed), never served.
//
// Pure: no files, no clock (times are arguments). Thread: one at a time (the service locks it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "relay/base/result.h"
#include "relay/sts/policy.h"

namespace relay::sts {

struct CachedPolicy {
    std::string domain;  // lower case
    std::string id;      // the TXT record's id when it was fetched
    Policy policy;
    std::uint64_t fetched_unix_s = 0;
    std::uint64_t expires_unix_s = 0;  // fetched + max_age
    bool operator==(const CachedPolicy&) const = default;
};

class PolicyCache {
  public:
    explicit PolicyCache(std::size_t entries_max) : entries_max_(entries_max) {}

    // The domain's policy while it has not expired.
    std::optional<CachedPolicy> find(std::string_view domain, std::uint64_t now_unix_s) const;
    // Adds or replaces; a full cache first drops the entry that expires first (and any
    // expired ones).
    void put(CachedPolicy entry, std::uint64_t now_unix_s);
    std::size_t size() const { return entries_.size(); }
    // Every entry, expired ones too (they stay until a put() needs their room).
    template <typename Visit>
    void for_each(Visit visit) const {
        for (const auto& [domain, entry] : entries_) {
            visit(entry);
        }
    }

    std::string encode() const;
    // Expired entries are dropped while reading.
    static Result<PolicyCache> decode(std::string_view text, std::size_t entries_max,
                                      std::uint64_t now_unix_s);

  private:
    std::size_t entries_max_;
    std::map<std::string, CachedPolicy, std::less<>> entries_;
};

}  // namespace relay::sts
