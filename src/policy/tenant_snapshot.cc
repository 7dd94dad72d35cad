// tenant_snapshot.cc -- indexing the store's tenant data for lookups by username and domain.
#include "relay/policy/tenant_snapshot.h"

#include <algorithm>

#include "relay/store/tenant_names.h"

namespace relay::policy {

std::shared_ptr<const TenantSnapshot> TenantSnapshot::build(store::TenantData data) {
    auto snapshot = std::make_shared<TenantSnapshot>();
    snapshot->generation_ = data.generation;
    snapshot->projects_ = data.projects.size();
    for (const store::ProjectRecord& project : data.projects) {
        if (project.networks.empty()) {
            continue;
        }
        // The store wrote only what Cidr::parse accepted; a text that no longer parses is
        // dropped but the project stays narrowed, so damage can only refuse logins, never admit
        // one from anywhere.
        std::vector<config::Cidr>& networks = snapshot->project_networks_[project.name];
        for (const std::string& text : project.networks) {
            if (auto network = config::Cidr::parse(text)) {
                networks.push_back(*network);
            }
        }
    }
    snapshot->dkim_keys_ = DkimKeyIndex::build(data.dkim_keys);
    for (store::ResourceRecord& resource : data.resources) {
        std::string username = resource.username();
        for (const std::string& domain : resource.domains) {
            snapshot->domain_owners_.emplace(domain, username);
        }
        snapshot->resources_.emplace(std::move(username), std::move(resource));
    }
    return snapshot;
}

const store::ResourceRecord* TenantSnapshot::resource(std::string_view username) const {
    auto found = resources_.find(username);
    return found == resources_.end() ? nullptr : &found->second;
}

std::string_view TenantSnapshot::owner_of_domain(std::string_view domain) const {
    auto found = domain_owners_.find(domain);
    return found == domain_owners_.end() ? std::string_view() : found->second;
}

bool TenantSnapshot::has_domain(std::string_view username, std::string_view domain) const {
    auto canonical = store::check_domain(domain);
    return canonical && !username.empty() && owner_of_domain(canonical.value()) == username;
}

bool TenantSnapshot::login_allowed_from(std::string_view username, const sockaddr* client) const {
    std::size_t slash = username.find('/');
    if (slash == std::string_view::npos) {
        return true;
    }
    auto found = project_networks_.find(username.substr(0, slash));
    if (found == project_networks_.end()) {
        return true;
    }
    return std::ranges::any_of(
        found->second, [client](const config::Cidr& network) { return network.contains(client); });
}

}  // namespace relay::policy
