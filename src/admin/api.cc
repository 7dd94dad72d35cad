// api.cc -- the admin API's front: bearer-token check, path splitting, the JSON body, dispatch
// to the route handlers, and the helpers they share (routes.h).
//
// Untrusted input: the whole request. The path is split into at most `segments_max` segments and
// percent-decoded; a body is parsed only for the methods that carry one, and must be an object.
//
// Thread: the admin thread(s); may block on the store.
#include "relay/admin/api.h"

#include <cctype>
#include <ctime>

#include "relay/admin/dashboard.h"
#include "relay/admin/token.h"
#include "relay/base/ascii.h"
#include "routes.h"

namespace relay::admin {
namespace internal {

std::string Call::query(const std::string& key) const {
    auto found = request.query.find(key);
    return found == request.query.end() ? std::string() : found->second;
}

HttpResponse json_response(int status, const json& body) {
    HttpResponse response;
    response.status = status;
    response.body = body.dump(2) + "\n";
    return response;
}

HttpResponse error_response(int status, const std::string& message) {
    return json_response(status, json{{"error", message}});
}

HttpResponse error_response(const Error& error) {
    switch (error.code) {
        case ErrorCode::not_found:
            return error_response(404, error.message);
        case ErrorCode::already_exists:
        case ErrorCode::failed_precondition:
            return error_response(409, error.message);
        case ErrorCode::invalid_argument:
            return error_response(400, error.message);
        case ErrorCode::unavailable:
        case ErrorCode::resource_exhausted:
            return error_response(503, error.message);
        default:
            return error_response(500, error.message);
    }
}

HttpResponse method_not_allowed(const std::string& allowed) {
    HttpResponse response = error_response(405, "method not allowed here; allowed: " + allowed);
    response.headers.emplace_back("Allow", allowed);
    return response;
}

namespace {
Error field_error(const char* key, const char* what) {
    return make_error(ErrorCode::invalid_argument, Blame::client,
                      std::string("field \"") + key + "\" must be " + what);
}
}  // namespace

Result<std::optional<std::string>> string_field(const json& body, const char* key) {
    if (!body.is_object() || !body.contains(key) || body[key].is_null()) {
        return std::optional<std::string>();
    }
    if (!body[key].is_string()) {
        return field_error(key, "a string");
    }
    return std::optional<std::string>(body[key].get<std::string>());
}

Result<std::optional<std::uint64_t>> unsigned_field(const json& body, const char* key,
                                                    std::uint64_t max) {
    if (!body.is_object() || !body.contains(key) || body[key].is_null()) {
        return std::optional<std::uint64_t>();
    }
    if (!body[key].is_number_unsigned() || body[key].get<std::uint64_t>() > max) {
        return field_error(key, ("an integer from 0 to " + std::to_string(max)).c_str());
    }
    return std::optional<std::uint64_t>(body[key].get<std::uint64_t>());
}

Result<std::optional<std::vector<std::string>>> string_list_field(const json& body,
                                                                  const char* key) {
    if (!body.is_object() || !body.contains(key) || body[key].is_null()) {
        return std::optional<std::vector<std::string>>();
    }
    if (!body[key].is_array()) {
        return field_error(key, "an array of strings");
    }
    std::vector<std::string> items;
    for (const json& item : body[key]) {
        if (!item.is_string()) {
            return field_error(key, "an array of strings");
        }
        items.push_back(item.get<std::string>());
    }
    return std::optional<std::vector<std::string>>(std::move(items));
}

Result<std::string> required_string(const json& body, const char* key) {
    auto value = string_field(body, key);
    if (!value) {
        return value.error();
    }
    if (!value.value() || value.value()->empty()) {
        return field_error(key, "given (a non-empty string)");
    }
    return *value.value();
}

namespace {
std::optional<std::uint64_t> parse_unsigned(const std::string& text) {
    if (text.empty() || text.size() > 18) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}
}  // namespace

Result<Page> page_of(const Call& call) {
    Page page;
    std::uint64_t limit_max = call.backend.config->admin.page_items_max;
    page.limit = std::min<std::uint64_t>(page.limit, limit_max);
    if (std::string offset = call.query("offset"); !offset.empty()) {
        auto value = parse_unsigned(offset);
        if (!value) {
            return make_error(ErrorCode::invalid_argument, Blame::client,
                              "offset must be an integer of 0 or more");
        }
        page.offset = *value;
    }
    if (std::string limit = call.query("limit"); !limit.empty()) {
        auto value = parse_unsigned(limit);
        if (!value || *value == 0 || *value > limit_max) {
            return make_error(ErrorCode::invalid_argument, Blame::client,
                              "limit must be an integer from 1 to " + std::to_string(limit_max));
        }
        page.limit = *value;
    }
    return page;
}

json page_json(json items, std::uint64_t total, const Page& page) {
    return json{{"items", std::move(items)},
                {"total", total},
                {"offset", page.offset},
                {"limit", page.limit}};
}

}  // namespace internal

namespace {

using internal::error_response;
using internal::json;

constexpr std::string_view api_prefix = "/api/v1/";
// More segments than any route has: a path longer than this is not one of ours.
constexpr std::size_t segments_max = 8;

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// The segments after the prefix, percent-decoded; nullopt when malformed or too many.
std::optional<std::vector<std::string>> split_path(std::string_view path) {
    std::vector<std::string> segments;
    std::string current;
    for (std::size_t index = 0; index < path.size(); ++index) {
        char c = path[index];
        if (c == '/') {
            segments.push_back(std::move(current));
            current.clear();
            if (segments.size() > segments_max) {
                return std::nullopt;
            }
            continue;
        }
        if (c == '%') {
            int high = index + 2 < path.size() ? hex_value(path[index + 1]) : -1;
            int low = index + 2 < path.size() ? hex_value(path[index + 2]) : -1;
            if (high < 0 || low < 0) {
                return std::nullopt;
            }
            current.push_back(static_cast<char>(high * 16 + low));
            index += 2;
            continue;
        }
        current.push_back(c);
    }
    segments.push_back(std::move(current));
    if (segments.size() > segments_max) {
        return std::nullopt;
    }
    while (!segments.empty() && segments.back().empty()) {
        segments.pop_back();  // a trailing slash
    }
    return segments;
}

bool carries_body(const std::string& method) {
    return method == "POST" || method == "PUT" || method == "PATCH";
}

}  // namespace

Api::Api(Backend backend) : backend_(std::move(backend)) {
    if (!backend_.now_s) {
        backend_.now_s = [] { return static_cast<std::uint64_t>(std::time(nullptr)); };
    }
}

bool Api::authorized(const std::string& authorization) {
    constexpr std::string_view scheme = "Bearer ";
    if (authorization.size() <= scheme.size() ||
        !starts_with_ignoring_case(authorization, scheme)) {
        return false;
    }
    auto tokens = backend_.store->admin_tokens().admin_tokens();
    if (!tokens) {
        return false;
    }
    std::vector<std::string> hashes;
    hashes.reserve(tokens->size());
    for (store::AdminTokenRecord& token : tokens.value()) {
        hashes.push_back(std::move(token.sha256_hex));
    }
    return admin_token_known(admin_token_sha256_hex(authorization.substr(scheme.size())), hashes);
}

HttpResponse Api::handle(const HttpRequest& request) {
    if (request.path == "/dashboard" || request.path.starts_with("/dashboard/")) {
        // The page's files carry no data: the page itself asks for the token.
        return backend_.dashboard != nullptr ? backend_.dashboard->serve(request)
                                             : error_response(404, "no dashboard is served here");
    }
    bool api = request.path.starts_with(api_prefix);
    if (!api && request.path != "/metrics") {
        return error_response(
            404,
            "no such path: the API is under /api/v1/, metrics at /metrics, the page at "
            "/dashboard/");
    }
    if (!authorized(request.authorization)) {
        HttpResponse response =
            error_response(401, request.authorization.empty()
                                    ? "this needs an admin token: Authorization: Bearer TOKEN"
                                    : "the admin token is not valid");
        response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"relayd\"");
        return response;
    }
    if (!api) {
        return request.method == "GET" ? metrics() : internal::method_not_allowed("GET");
    }
    return route(request);
}

HttpResponse Api::metrics() {
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = internal::metrics_text(backend_);
    return response;
}

HttpResponse Api::route(const HttpRequest& request) {
    auto segments = split_path(std::string_view(request.path).substr(api_prefix.size()));
    if (!segments || segments->empty()) {
        return error_response(404, "no such path");
    }
    json body;
    if (carries_body(request.method) && !request.body.empty()) {
        body = json::parse(request.body, nullptr, false);
        if (body.is_discarded()) {
            return error_response(400, "the body is not valid JSON");
        }
    }
    if (carries_body(request.method) && !body.is_object() && !body.is_null()) {
        return error_response(400, "the body must be a JSON object");
    }
    if (body.is_null()) {
        body = json::object();
    }
    internal::Call call{request, std::move(segments.value()), std::move(body), backend_};
    const std::string& noun = call.segments.front();
    if (noun == "projects") {
        return internal::project_routes(call);
    }
    if (noun == "resources") {
        return internal::resource_routes(call);
    }
    if (noun == "dkim-keys") {
        return internal::dkim_routes(call);
    }
    if (noun == "stop-list") {
        return internal::stop_list_routes(call);
    }
    if (noun == "queue") {
        return internal::queue_routes(call);
    }
    if (noun == "stats") {
        return internal::stats_routes(call);
    }
    return error_response(404, "no such path");
}

}  // namespace relay::admin
