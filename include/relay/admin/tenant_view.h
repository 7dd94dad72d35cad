// tenant_view.h -- a project as JSON, the same for `relayctl project list|show --json` and the
// admin API's /projects.
//
// Thread: any; pure.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "relay/store/tenant_records.h"

namespace relay::admin {

// How many resources `project` has.
std::size_t resources_of(const store::TenantData& data, const std::string& project);

nlohmann::json project_json(const store::TenantData& data, const store::ProjectRecord& project);

}  // namespace relay::admin
