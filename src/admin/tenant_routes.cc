// tenant_routes.cc -- projects, resources, their domains and credentials over the admin API;
// the same store calls as relayctl's project/resource/domain commands.
//
//     /projects                      GET (paged), POST {name, resources_max?, domains_max?}
//     /projects/P                    GET, PATCH {resources_max?, domains_max?, networks?}, DELETE
//     /resources                     GET ?project= (paged), POST {project, name} -> password
//     /resources/P/N                 GET, DELETE
//     /resources/P/N/password        POST -> a new password, shown once
//     /resources/P/N/limit           PUT {messages, window_s}
//     /resources/P/N/policy          PUT {stop_policy}
//     /resources/P/N/return-path     PUT {address}, DELETE
//     /resources/P/N/domains         GET, POST {domain}
//     /resources/P/N/domains/D       DELETE
//
// Thread: the admin thread(s); blocks on the store and on Argon2id.
#include "relay/admin/tenant_view.h"
#include "relay/policy/password.h"
#include "relay/store/tenant_names.h"
#include "routes.h"

namespace relay::admin::internal {
namespace {

json resource_json(const store::ResourceRecord& resource) {
    return {
        {"username", resource.username()},
        {"project", resource.project},
        {"name", resource.name},
        {"domains", resource.domains},
        {"stop_policy", store::stop_policy_name(resource.stop_policy)},
        {"rate_messages", resource.rate_messages},
        {"rate_window_s", resource.rate_window_s},
        {"return_path", resource.return_path.empty() ? json(nullptr) : json(resource.return_path)}};
}

HttpResponse show_project(Call& call, const std::string& name, int status) {
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    const store::ProjectRecord* project = find_project(*data, name);
    if (project == nullptr) {
        return error_response(404, "no project " + name);
    }
    return json_response(status, project_json(*data, *project));
}

HttpResponse list_projects(Call& call) {
    auto page = page_of(call);
    if (!page) {
        return error_response(page.error());
    }
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    json items = json::array();
    for (std::size_t index = page->offset;
         index < data->projects.size() && items.size() < page->limit; ++index) {
        items.push_back(project_json(*data, data->projects[index]));
    }
    return json_response(200, page_json(std::move(items), data->projects.size(), *page));
}

Result<store::QuotaChange> quota_of(const json& body) {
    store::QuotaChange quota;
    auto resources = unsigned_field(body, "resources_max", store::quota_max);
    auto domains = unsigned_field(body, "domains_max", store::quota_max);
    if (!resources) {
        return resources.error();
    }
    if (!domains) {
        return domains.error();
    }
    if (resources.value()) {
        quota.resources_max = static_cast<std::uint32_t>(*resources.value());
    }
    if (domains.value()) {
        quota.domains_max = static_cast<std::uint32_t>(*domains.value());
    }
    return quota;
}

HttpResponse add_project(Call& call) {
    auto name = required_string(call.body, "name");
    if (!name) {
        return error_response(name.error());
    }
    auto quota = quota_of(call.body);
    if (!quota) {
        return error_response(quota.error());
    }
    if (Status added = call.store().add_project(*name, *quota); !added) {
        return error_response(added.error());
    }
    return show_project(call, *name, 201);
}

HttpResponse change_project(Call& call, const std::string& name) {
    auto quota = quota_of(call.body);
    if (!quota) {
        return error_response(quota.error());
    }
    auto networks = string_list_field(call.body, "networks");
    if (!networks) {
        return error_response(networks.error());
    }
    if (!quota->resources_max && !quota->domains_max && !networks.value()) {
        return error_response(400, "give resources_max, domains_max and/or networks");
    }
    if (quota->resources_max || quota->domains_max) {
        if (Status changed = call.store().set_quota(name, *quota); !changed) {
            return error_response(changed.error());
        }
    }
    if (networks.value()) {
        if (Status changed = call.store().set_networks(name, *networks.value()); !changed) {
            return error_response(changed.error());
        }
    }
    return show_project(call, name, 200);
}

HttpResponse remove_project(Call& call, const std::string& name) {
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    if (find_project(*data, name) == nullptr) {
        return error_response(404, "no project " + name);
    }
    std::size_t resources = 0;
    std::size_t domains = 0;
    for (const store::ResourceRecord& resource : data->resources) {
        if (resource.project == name) {
            ++resources;
            domains += resource.domains.size();
        }
    }
    if (Status removed = call.store().remove_project(name); !removed) {
        return error_response(removed.error());
    }
    return json_response(200, {{"removed", name}, {"resources", resources}, {"domains", domains}});
}

// A new password for a resource, hashed as relayctl does, returned once.
HttpResponse new_password(Call& call, const std::string& username, bool create) {
    auto password = policy::generate_password();
    if (!password) {
        return error_response(password.error());
    }
    const config::Credentials& c = call.backend.config->credentials;
    auto hash = policy::hash_password(
        *password, {c.argon2_memory_kib, c.argon2_iterations, c.argon2_parallelism});
    if (!hash) {
        return error_response(hash.error());
    }
    Status changed = create ? call.store().add_resource(username, *hash)
                            : call.store().set_password(username, *hash);
    if (!changed) {
        return error_response(changed.error());
    }
    return json_response(create ? 201 : 200, {{"username", username}, {"password", *password}});
}

HttpResponse list_resources(Call& call) {
    auto page = page_of(call);
    if (!page) {
        return error_response(page.error());
    }
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    std::string project = call.query("project");
    if (!project.empty() && find_project(*data, project) == nullptr) {
        return error_response(404, "no project " + project);
    }
    json items = json::array();
    std::uint64_t total = 0;
    for (const store::ResourceRecord& resource : data->resources) {
        if (!project.empty() && resource.project != project) {
            continue;
        }
        if (total++ >= page->offset && items.size() < page->limit) {
            items.push_back(resource_json(resource));
        }
    }
    return json_response(200, page_json(std::move(items), total, *page));
}

HttpResponse add_resource(Call& call) {
    auto project = required_string(call.body, "project");
    if (!project) {
        return error_response(project.error());
    }
    auto name = required_string(call.body, "name");
    if (!name) {
        return error_response(name.error());
    }
    std::string username = *project + "/" + *name;
    if (auto parsed = store::parse_username(username); !parsed) {
        return error_response(parsed.error());
    }
    return new_password(call, username, true);
}

HttpResponse show_resource(Call& call, const std::string& username) {
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    const store::ResourceRecord* resource = find_resource(*data, username);
    if (resource == nullptr) {
        return error_response(404, "no resource " + username);
    }
    return json_response(200, resource_json(*resource));
}

HttpResponse set_limit(Call& call, const std::string& username) {
    auto messages = unsigned_field(call.body, "messages", store::rate_messages_max);
    auto window = unsigned_field(call.body, "window_s", store::rate_window_s_max);
    if (!messages) {
        return error_response(messages.error());
    }
    if (!window) {
        return error_response(window.error());
    }
    if (!messages.value() || !window.value()) {
        return error_response(400, "give messages and window_s");
    }
    Status changed =
        call.store().set_rate_limit(username, static_cast<std::uint32_t>(*messages.value()),
                                    static_cast<std::uint32_t>(*window.value()));
    if (!changed) {
        return error_response(changed.error());
    }
    return show_resource(call, username);
}

HttpResponse set_policy(Call& call, const std::string& username) {
    auto name = required_string(call.body, "stop_policy");
    if (!name) {
        return error_response(name.error());
    }
    auto policy = store::parse_stop_policy(*name);
    if (!policy) {
        return error_response(400, "stop_policy must be \"exclude\" or \"reject_message\"");
    }
    if (Status changed = call.store().set_stop_policy(username, *policy); !changed) {
        return error_response(changed.error());
    }
    return show_resource(call, username);
}

HttpResponse set_return_path(Call& call, const std::string& username) {
    std::string address;
    if (call.method() == "PUT") {
        auto given = required_string(call.body, "address");
        if (!given) {
            return error_response(given.error());
        }
        address = *given;
    }
    if (Status changed = call.store().set_return_path(username, address); !changed) {
        return error_response(changed.error());
    }
    return show_resource(call, username);
}

HttpResponse domains(Call& call, const std::string& username) {
    if (call.segments.size() == 5) {
        if (call.method() != "DELETE") {
            return method_not_allowed("DELETE");
        }
        const std::string& domain = call.segments[4];
        if (Status removed = call.store().remove_domain(username, domain); !removed) {
            return error_response(removed.error());
        }
        return json_response(
            200, {{"removed", store::check_domain(domain).value()}, {"resource", username}});
    }
    if (call.method() == "POST") {
        auto domain = required_string(call.body, "domain");
        if (!domain) {
            return error_response(domain.error());
        }
        if (Status added = call.store().add_domain(username, *domain); !added) {
            return error_response(added.error());
        }
        return json_response(
            201, {{"added", store::check_domain(*domain).value()}, {"resource", username}});
    }
    if (call.method() != "GET") {
        return method_not_allowed("GET, POST");
    }
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    const store::ResourceRecord* resource = find_resource(*data, username);
    if (resource == nullptr) {
        return error_response(404, "no resource " + username);
    }
    json items = json::array();
    for (const std::string& domain : resource->domains) {
        items.push_back({{"domain", domain}, {"resource", username}});
    }
    return json_response(200, {{"items", items}, {"total", resource->domains.size()}});
}

HttpResponse remove_resource(Call& call, const std::string& username) {
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    const store::ResourceRecord* resource = find_resource(*data, username);
    if (resource == nullptr) {
        return error_response(404, "no resource " + username);
    }
    std::size_t domain_count = resource->domains.size();
    if (Status removed = call.store().remove_resource(username); !removed) {
        return error_response(removed.error());
    }
    return json_response(200, {{"removed", username}, {"domains", domain_count}});
}

// /resources/P/N/... once P/N is known.
HttpResponse one_resource(Call& call, const std::string& username) {
    const std::string& method = call.method();
    if (call.segments.size() == 3) {
        if (method == "GET") {
            return show_resource(call, username);
        }
        return method == "DELETE" ? remove_resource(call, username)
                                  : method_not_allowed("GET, DELETE");
    }
    const std::string& part = call.segments[3];
    if (part == "domains") {
        return domains(call, username);
    }
    if (call.segments.size() != 4) {
        return error_response(404, "no such path");
    }
    if (part == "password") {
        return method == "POST" ? new_password(call, username, false) : method_not_allowed("POST");
    }
    if (part == "limit") {
        return method == "PUT" ? set_limit(call, username) : method_not_allowed("PUT");
    }
    if (part == "policy") {
        return method == "PUT" ? set_policy(call, username) : method_not_allowed("PUT");
    }
    if (part == "return-path") {
        return method == "PUT" || method == "DELETE" ? set_return_path(call, username)
                                                     : method_not_allowed("PUT, DELETE");
    }
    return error_response(404, "no such path");
}

}  // namespace

HttpResponse project_routes(Call& call) {
    const std::string& method = call.method();
    if (call.segments.size() == 1) {
        if (method == "GET") {
            return list_projects(call);
        }
        return method == "POST" ? add_project(call) : method_not_allowed("GET, POST");
    }
    if (call.segments.size() != 2) {
        return error_response(404, "no such path");
    }
    const std::string& name = call.segments[1];
    if (method == "GET") {
        return show_project(call, name, 200);
    }
    if (method == "PATCH") {
        return change_project(call, name);
    }
    return method == "DELETE" ? remove_project(call, name)
                              : method_not_allowed("GET, PATCH, DELETE");
}

HttpResponse resource_routes(Call& call) {
    const std::string& method = call.method();
    if (call.segments.size() == 1) {
        if (method == "GET") {
            return list_resources(call);
        }
        return method == "POST" ? add_resource(call) : method_not_allowed("GET, POST");
    }
    if (call.segments.size() < 3 || call.segments.size() > 5) {
        return error_response(404, "no such path (a resource is /resources/PROJECT/NAME)");
    }
    std::string username = call.segments[1] + "/" + call.segments[2];
    if (auto parsed = store::parse_username(username); !parsed) {
        return error_response(404, "no resource " + username);
    }
    return one_resource(call, username);
}

}  // namespace relay::admin::internal
