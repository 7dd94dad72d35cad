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

nlohmann::json counts_json(const store::StatsCounts& counts) {
    nlohmann::json object = nlohmann::json::object();
    nlohmann::json reasons = nlohmann::json::object();
    for (std::size_t index = 0; index < store::stats_counter_count; ++index) {
        auto counter = static_cast<store::StatsCounter>(index);
        if (!store::is_bounce_reason(counter)) {
            object[store::stats_counter_name(counter)] = counts[index];
        } else if (counts[index] != 0) {
            reasons[std::string(store::bounce_reason_of(counter))] = counts[index];
        }
    }
    object["bounce_reasons"] = std::move(reasons);
    return object;
}

}  // namespace relay::admin
