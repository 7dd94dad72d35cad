// tenant_snapshot.h -- an immutable copy of the tenants a session needs: resources by SMTP
// username, their password hashes and generations, and which resource each domain belongs to.
//
// Built off the workers' loops from the store's TenantData and shared read-only by every
// thread (tenant_snapshots.h publishes it); `resource` and `owner_of_domain` allocate nothing.
//
// Thread: any, read-only after `build`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "relay/store/tenant_records.h"

namespace relay::policy {

class TenantSnapshot {
  public:
    static std::shared_ptr<const TenantSnapshot> build(store::TenantData data);

    std::uint64_t generation() const { return generation_; }
    std::size_t projects() const { return projects_; }
    std::size_t resources() const { return resources_.size(); }
    std::size_t domains() const { return domain_owners_.size(); }

    // The resource whose SMTP username is `username` (PROJECT/NAME), or null.
    const store::ResourceRecord* resource(std::string_view username) const;
    // The username of the resource that owns `domain` (lower case), or empty.
    std::string_view owner_of_domain(std::string_view domain) const;
    // Whether `domain` (any case) is one of the sender domains of `username`.
    bool has_domain(std::string_view username, std::string_view domain) const;

  private:
    std::uint64_t generation_ = 0;
    std::size_t projects_ = 0;
    std::map<std::string, store::ResourceRecord, std::less<>> resources_;
    std::map<std::string, std::string, std::less<>> domain_owners_;
};

}  // namespace relay::policy
