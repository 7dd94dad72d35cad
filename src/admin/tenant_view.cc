// tenant_view.cc -- a project as JSON, shared by relayctl and the admin API.
#include "relay/admin/tenant_view.h"

namespace relay::admin {

std::size_t resources_of(const store::TenantData& data, const std::string& project) {
    std::size_t count = 0;
    for (const store::ResourceRecord& resource : data.resources) {
        count += resource.project == project ? 1 : 0;
    }
    return count;
}

nlohmann::json project_json(const store::TenantData& data, const store::ProjectRecord& project) {
    return {{"name", project.name},
            {"resources", resources_of(data, project.name)},
            {"resources_max", project.resources_max},
            {"domains_max", project.domains_max},
            {"networks", project.networks}};
}

}  // namespace relay::admin
