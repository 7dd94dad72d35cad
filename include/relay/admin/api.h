// api.h -- the admin plane's HTTP/JSON API, as a function from a request to a response: routing,
// bearer-token authentication, validation of the JSON bodies, and the calls into the tenant
// store, the spool and relayd's queue control (docs/admin-api.md, docs/admin-api.yaml).
//
// It knows nothing of sockets: admin/server.h feeds it requests from cpp-httplib, and the unit
// tests call it directly. Bodies are untrusted bytes from whoever reaches the admin address: they
// are parsed once into JSON, every field is checked for its type and range before use, and no
// error message echoes more than the offending field's name and the store's one line.
//
// Thread: the admin thread(s); handle() may block on the store and the disk, so never a worker.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "relay/config/config.h"
#include "relay/stats/delivery_latency.h"
#include "relay/stats/tls_versions.h"
#include "relay/store/tenant_store.h"

namespace relay::admin {

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string path;    // without the query
    std::map<std::string, std::string> query;
    std::string body;
    std::string authorization;  // the Authorization header, empty when absent
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

class Dashboard;

// What the API reaches besides the store: relayd gives the real ones, tests their own.
struct Backend {
    const config::Config* config = nullptr;
    store::TenantStore* store = nullptr;
    // Queue changes (retry, delete, bounce): one request as relayd's control socket takes it
    // ({"command": ..., "id"|"domain"|"resource"|"all": ...}), its JSON answer back. Unset: the
    // queue cannot be changed (answered 503).
    std::function<std::string(const std::string& request)> queue_control;
    // The workers' delivery latency histograms, for /metrics; null: none (a tool, a test).
    const stats::DeliveryLatency* delivery_latency = nullptr;
    // The workers' TLS version counts, inbound and outbound; null: none.
    const stats::TlsVersions* tls_versions = nullptr;
    // The clock, in Unix seconds.
    std::function<std::uint64_t()> now_s;
    // The dashboard's files, served at /dashboard/ without a token; null: none (404).
    const Dashboard* dashboard = nullptr;
};

class Api {
  public:
    explicit Api(Backend backend);

    // Any request: /api/v1/... and /metrics need a valid bearer token; /dashboard/ does not.
    HttpResponse handle(const HttpRequest& request);
    // /metrics without the token check (the separate metrics address).
    HttpResponse metrics();

  private:
    HttpResponse route(const HttpRequest& request);
    bool authorized(const std::string& authorization);

    Backend backend_;
};

}  // namespace relay::admin
