// tenant_view.h -- projects, DKIM keys and statistics counts as JSON, the same for relayctl's
// --json output and the admin API.
//
// Thread: any; pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "relay/store/stats_store.h"
#include "relay/store/tenant_records.h"

namespace relay::admin {

// How many resources `project` has.
std::size_t resources_of(const store::TenantData& data, const std::string& project);

nlohmann::json project_json(const store::TenantData& data, const store::ProjectRecord& project);

// A DKIM key: its record, the key size in bits (0 for Ed25519) and the DNS record to publish.
nlohmann::json key_json(const store::DkimKeyRecord& record, int bits,
                        const std::string& dns_record);

// The counters by name, with the bounce_reason_* counters gathered in `bounce_reasons` (only
// the reasons counted in the period, so the object stays as small as what happened).
nlohmann::json counts_json(const store::StatsCounts& counts);

// A Unix time as "2026-12-01T20:21:54Z".
std::string utc_text(std::uint64_t unix_s);

}  // namespace relay::admin
