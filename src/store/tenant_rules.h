// tenant_rules.h -- the tenant rules (names, quotas, conflicts, cascades) written once, over the
// tables of any backend.
//
// RuledTenantStore implements every tenant write of TenantStore on TenantTables: read what the
// rule needs, check it, write the records. A backend supplies `change`, which runs one rule
// atomically with the generation the change will have and advances the generation only when the
// rule succeeds, and `read`, which shows a consistent view of the tables with their generation.
//
// Thread: as the backend's (one call at a time).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "relay/store/tenant_store.h"
#include "tenant_tables.h"

namespace relay::store::internal {

class RuledTenantStore : public TenantStore {
  public:
    using Change = std::function<Status(TenantTables& tables, std::uint64_t generation)>;
    using Read = std::function<Status(const TenantTables& tables, std::uint64_t generation)>;

    Result<TenantData> load() override;
    Status add_project(const std::string& name, const QuotaChange& quota) override;
    Status remove_project(const std::string& name) override;
    Status set_quota(const std::string& name, const QuotaChange& quota) override;
    Status set_networks(const std::string& name, const std::vector<std::string>& networks) override;
    Status add_resource(const std::string& username, const std::string& password_hash) override;
    Status remove_resource(const std::string& username) override;
    Status set_password(const std::string& username, const std::string& password_hash) override;
    Status add_domain(const std::string& username, const std::string& domain) override;
    Status remove_domain(const std::string& username, const std::string& domain) override;
    Status set_rate_limit(const std::string& username, std::uint32_t messages,
                          std::uint32_t window_s) override;
    Status set_return_path(const std::string& username, const std::string& address) override;
    Status set_stop_policy(const std::string& username, StopPolicy policy) override;
    Status add_dkim_key(const DkimKeyRecord& key) override;
    Status remove_dkim_key(const std::string& domain, const std::string& selector) override;

  protected:
    // Runs `rule` atomically; on success the store's generation becomes the one it was given.
    virtual Status change(const Change& rule) = 0;
    // Runs `reader` on one consistent view of the tables.
    virtual Status read(const Read& reader) = 0;

  private:
    // Runs `rule(tables, record, generation)` in one change on `username`'s record.
    template <class Rule>
    Status change_resource(const std::string& username, Rule rule);
    template <class Edit>
    Status update_resource(const std::string& username, Edit edit);
    // Runs `edit(tables, record, domain)` in one change, with `username`'s record and `domain`
    // checked and normalised first.
    template <class Edit>
    Status edit_domain(const std::string& username, const std::string& domain, Edit edit);
};

}  // namespace relay::store::internal
