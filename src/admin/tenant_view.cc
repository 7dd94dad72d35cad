// tenant_view.cc -- a project as JSON, shared by relayctl and the admin API.
#include "relay/admin/tenant_view.h"

#include <ctime>

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

nlohmann::json key_json(const store::DkimKeyRecord& record, int bits,
                        const std::string& dns_record) {
    return {{"domain", record.domain},
            {"selector", record.selector},
            {"algorithm", record.algorithm},
            {"bits", bits},
            {"canonicalization", record.canonicalization + "/" + record.canonicalization},
            {"created", utc_text(record.created_unix_s)},
            {"dns_record", dns_record}};
}

std::string utc_text(std::uint64_t unix_s) {
    std::time_t time = static_cast<std::time_t>(unix_s);
    std::tm parts{};
    gmtime_r(&time, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

}  // namespace relay::admin
