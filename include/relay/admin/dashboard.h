// dashboard.h -- the dashboard page's static files (docs/admin-api.md#dashboard): a fixed set of
// files read once from `[admin] dashboard_dir` and served at /dashboard/ without a token.
//
// The files carry no data: the page asks for an admin token and sends it as the bearer of its
// own API requests. Only the names of `dashboard_files` are ever opened, so a request's path
// never reaches the file system (no "..", no symbolic-link games), and every answer carries a
// Content-Security-Policy that lets the page load only its own files and talk only to its own
// origin, so a string from the store that slipped into markup could not run as a script.
//
// Bounds: a file over `dashboard_file_bytes_max` is not served (logged at start).
//
// Thread: load() on the main thread before the admin threads start; serve() on the admin
// thread(s), read-only.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/admin/api.h"

namespace relay::admin {

struct DashboardFile {
    std::string_view name;
    std::string_view content_type;
};

// Every file the page is made of: ours (dashboard/ in the sources) and uPlot's, from npm.
inline constexpr std::array<DashboardFile, 5> dashboard_files{{
    {"index.html", "text/html; charset=utf-8"},
    {"dashboard.js", "text/javascript; charset=utf-8"},
    {"dashboard.css", "text/css; charset=utf-8"},
    {"uPlot.iife.min.js", "text/javascript; charset=utf-8"},
    {"uPlot.min.css", "text/css; charset=utf-8"},
}};
inline constexpr std::uint64_t dashboard_file_bytes_max = 4 << 20;

inline constexpr std::string_view dashboard_content_security_policy =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

class Dashboard {
  public:
    // Reads every file of dashboard_files from `folder`. What cannot be read is left out (its
    // requests get 404) and named, with why, in problems().
    static Dashboard load(const std::string& folder);

    // A request whose path is /dashboard or starts with /dashboard/.
    HttpResponse serve(const HttpRequest& request) const;

    const std::vector<std::string>& problems() const { return problems_; }
    bool complete() const { return problems_.empty(); }

  private:
    std::array<std::string, dashboard_files.size()> bodies_;
    std::array<bool, dashboard_files.size()> present_{};
    std::vector<std::string> problems_;
};

}  // namespace relay::admin
