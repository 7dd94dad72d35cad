// routes.h -- what the admin API's route handlers share: the request as split by api.cc, the
// JSON helpers that check a body's fields, and the responses for errors.
//
// Thread: the admin thread(s). Internal to src/admin.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "relay/admin/api.h"
#include "relay/admin/tenant_view.h"
#include "relay/base/result.h"

namespace relay::admin::internal {

using nlohmann::json;

// One request on its way through the handlers.
struct Call {
    const HttpRequest& request;
    std::vector<std::string> segments;  // the path after /api/v1/, split at '/', decoded
    json body;                          // an object for POST/PUT/PATCH, null otherwise
    Backend& backend;

    const std::string& method() const { return request.method; }
    std::string query(const std::string& key) const;
    store::TenantStore& store() const { return *backend.store; }
    std::uint64_t now_s() const { return backend.now_s(); }
};

HttpResponse json_response(int status, const json& body);
HttpResponse error_response(int status, const std::string& message);
// The status an error of the store or a check earns: 404 not found, 409 exists or a quota, 400
// invalid, 503 unavailable, 500 otherwise.
HttpResponse error_response(const Error& error);
HttpResponse method_not_allowed(const std::string& allowed);

// Body fields: absent gives nullopt; present with the wrong type an error naming the field.
Result<std::optional<std::string>> string_field(const json& body, const char* key);
Result<std::optional<std::uint64_t>> unsigned_field(const json& body, const char* key,
                                                    std::uint64_t max);
Result<std::optional<std::vector<std::string>>> string_list_field(const json& body,
                                                                  const char* key);
Result<std::string> required_string(const json& body, const char* key);

// A page of a list: `offset` and `limit` from the query (limit at most admin.page_items_max).
struct Page {
    std::uint64_t offset = 0;
    std::uint64_t limit = 100;
};
Result<Page> page_of(const Call& call);
// {"items": [...], "total": N, "offset": O, "limit": L}; `items` is the page alone.
json page_json(json items, std::uint64_t total, const Page& page);

// "2026-12-01T20:00:00Z"
using admin::utc_text;

// The handlers, by the first segment of the path. Each answers every method of its paths.
HttpResponse project_routes(Call& call);
HttpResponse resource_routes(Call& call);
HttpResponse dkim_routes(Call& call);
HttpResponse stop_list_routes(Call& call);
HttpResponse queue_routes(Call& call);
HttpResponse stats_routes(Call& call);
// Prometheus text exposition format 0.0.4.
std::string metrics_text(Backend& backend);

}  // namespace relay::admin::internal
