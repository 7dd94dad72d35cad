// dashboard.cc -- the dashboard's static files: read once at start, served from memory.
//
// Untrusted input: the request path, compared with the fixed names only. Thread: see
// dashboard.h.
#include "relay/admin/dashboard.h"

#include <cstring>

#include "relay/base/file.h"
#include "routes.h"

namespace relay::admin {
namespace {

constexpr std::string_view prefix = "/dashboard/";

void add_page_headers(HttpResponse& response) {
    response.headers.emplace_back("Content-Security-Policy",
                                  std::string(dashboard_content_security_policy));
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    // Revalidated on each load, so a new relay version's page never runs with the old script.
    response.headers.emplace_back("Cache-Control", "no-cache");
}

HttpResponse not_found(std::string_view why) {
    HttpResponse response = internal::error_response(404, std::string(why));
    add_page_headers(response);
    return response;
}

}  // namespace

Dashboard Dashboard::load(const std::string& folder) {
    Dashboard dashboard;
    for (std::size_t index = 0; index < dashboard_files.size(); ++index) {
        std::string path = folder + "/" + std::string(dashboard_files[index].name);
        auto body = read_file("dashboard file", path, dashboard_file_bytes_max);
        if (!body) {
            dashboard.problems_.push_back(body.error().message);
            continue;
        }
        dashboard.bodies_[index] = std::move(body.value());
        dashboard.present_[index] = true;
    }
    return dashboard;
}

HttpResponse Dashboard::serve(const HttpRequest& request) const {
    if (request.path == "/dashboard") {
        HttpResponse response;
        response.status = 308;
        response.content_type = "text/plain; charset=utf-8";
        response.body = "/dashboard/\n";
        response.headers.emplace_back("Location", "/dashboard/");
        return response;
    }
    if (request.method != "GET" && request.method != "HEAD") {
        return internal::method_not_allowed("GET");
    }
    std::string_view name = std::string_view(request.path).substr(prefix.size());
    if (name.empty()) {
        name = "index.html";
    }
    for (std::size_t index = 0; index < dashboard_files.size(); ++index) {
        if (dashboard_files[index].name != name) {
            continue;
        }
        if (!present_[index]) {
            return not_found("the dashboard is not installed: see [admin] dashboard_dir");
        }
        HttpResponse response;
        response.content_type = std::string(dashboard_files[index].content_type);
        response.body = bodies_[index];
        add_page_headers(response);
        return response;
    }
    return not_found("no such file of the dashboard");
}

}  // namespace relay::admin
