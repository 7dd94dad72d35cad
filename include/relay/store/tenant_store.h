// tenant_store.h -- the tenant state behind an interface: projects, resources, domains and
// credentials, with the quota and conflict rules enforced inside each write.
//
// Every write is atomic and durable when it returns, and advances the store's generation, a
// number that only grows; readers that keep a copy of the tenants compare it to know whether
// their copy is stale (a cheap read). Errors are one line for the operator, naming the project,
// resource or domain and, for a quota, the command that raises it.
//
// The embedded LMDB backend (lmdb_tenant_store.h) is the default; a shared cluster backend can
// implement the same interface.
//
// Thread: one object per thread that uses it, or one shared behind the caller's own ordering;
// every call may block on the disk, so never on a worker's loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "relay/store/admin_token_store.h"
#include "relay/store/message_index.h"
#include "relay/store/stats_store.h"
#include "relay/store/stop_list_store.h"
#include "relay/store/tenant_records.h"

namespace relay::store {

struct QuotaChange {
    std::optional<std::uint32_t> resources_max;
    std::optional<std::uint32_t> domains_max;
};

class TenantStore {
  public:
    virtual ~TenantStore() = default;

    virtual Result<std::uint64_t> generation() = 0;
    virtual Result<TenantData> load() = 0;

    virtual Status add_project(const std::string& name, const QuotaChange& quota) = 0;
    // Removes the project with its resources and their domains.
    virtual Status remove_project(const std::string& name) = 0;
    // Refuses to lower a quota below what the project already uses.
    virtual Status set_quota(const std::string& name, const QuotaChange& quota) = 0;
    // Replaces the project's client networks; each is checked with config::Cidr::parse and kept
    // in its canonical form, duplicates once. An empty list clears the narrowing.
    virtual Status set_networks(const std::string& name,
                                const std::vector<std::string>& networks) = 0;

    virtual Status add_resource(const std::string& username, const std::string& password_hash) = 0;
    // Removes the resource with its domains.
    virtual Status remove_resource(const std::string& username) = 0;
    virtual Status set_password(const std::string& username, const std::string& password_hash) = 0;

    // A domain belongs to at most one resource.
    virtual Status add_domain(const std::string& username, const std::string& domain) = 0;
    virtual Status remove_domain(const std::string& username, const std::string& domain) = 0;

    // Stop lists: the entries (stop_list_store.h) live in the same store, and a resource's
    // removal removes its entries.
    virtual Status set_stop_policy(const std::string& username, StopPolicy policy) = 0;
    virtual StopListStore& stop_lists() = 0;
    // Statistics (stats_store.h) live in the same store; a resource's removal keeps them.
    virtual StatsStore& stats() = 0;
    // The Message-ID index of sent mail (message_index.h), for reports without a VERP token.
    virtual MessageIndex& message_index() = 0;
    // The admin API's bearer tokens (admin_token_store.h) live in the same store.
    virtual AdminTokenStore& admin_tokens() = 0;
    // The resource's message rate limit: `messages` in 1..rate_messages_max per `window_s` in
    // 1..rate_window_s_max seconds.
    virtual Status set_rate_limit(const std::string& username, std::uint32_t messages,
                                  std::uint32_t window_s) = 0;
    // The resource's own return path (check_return_path); empty clears it.
    virtual Status set_return_path(const std::string& username, const std::string& address) = 0;
    // DKIM keys live with their domain: removing the domain (or its resource or project)
    // removes them. A key's domain must be a domain of some resource; a domain has each
    // selector once. The algorithm and canonicalization are checked here, the PEM is not (the
    // caller loads it with dkim::PrivateKey first).
    virtual Status add_dkim_key(const DkimKeyRecord& key) = 0;
    virtual Status remove_dkim_key(const std::string& domain, const std::string& selector) = 0;
};

}  // namespace relay::store
