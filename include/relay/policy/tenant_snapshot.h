// tenant_snapshot.h -- an immutable copy of the tenants a session needs: resources by SMTP
// username, their password hashes and generations, which resource each domain belongs to, and
// the client networks of the projects that narrow them, and the DKIM keys of the domains.
//
// Built off the workers' loops from the store's TenantData and shared read-only by every
// thread (tenant_snapshots.h publishes it); the networks are parsed here, once per snapshot.
// `resource`, `owner_of_domain` and `login_allowed_from` allocate nothing.
//
// Thread: any, read-only after `build`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/values.h"
#include "relay/policy/dkim_keys.h"
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
    // Whether a login as `username` (PROJECT/NAME) may come from `client` (AF_INET or AF_INET6):
    // true unless the project lists networks and none of them holds the address. A username of
    // no project passes: the password check refuses it the way it refuses any unknown name.
    bool login_allowed_from(std::string_view username, const sockaddr* client) const;

    // Calls `visit(const store::ResourceRecord&)` for each resource, by username.
    template <class Visit>
    void for_each_resource(Visit visit) const {
        for (const auto& [username, resource] : resources_) {
            visit(resource);
        }
    }

    // The DKIM keys of the sender domains, parsed when the snapshot was built.
    const DkimKeyIndex& dkim_keys() const { return dkim_keys_; }

  private:
    std::uint64_t generation_ = 0;
    std::size_t projects_ = 0;
    std::map<std::string, store::ResourceRecord, std::less<>> resources_;
    std::map<std::string, std::string, std::less<>> domain_owners_;
    // Only the projects that narrow their networks.
    std::map<std::string, std::vector<config::Cidr>, std::less<>> project_networks_;
    DkimKeyIndex dkim_keys_;
};

}  // namespace relay::policy
