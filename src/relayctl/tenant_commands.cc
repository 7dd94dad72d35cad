// tenant_commands.cc -- projects, resources and domains in the tenant store.
#include "tenant_commands.h"

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "output.h"
#include "relay/admin/tenant_view.h"
#include "relay/policy/password.h"
#include "relay/store/open_tenant_store.h"
#include "relay/store/tenant_names.h"

namespace relay::ctl {
namespace {

using admin::project_json;
using admin::resources_of;

using nlohmann::json;

std::string plural(std::size_t count, const char* noun) {
    return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// What one command works with: the store, the arguments, and the matched verb.
struct Command {
    const config::Config& config;
    store::TenantStore& store;
    const TenantArguments& arguments;
    std::string verb;
};

store::QuotaChange quota_of(const CLI::App& verb, const TenantArguments& arguments) {
    store::QuotaChange quota;
    if (verb.count("--max-resources") > 0) {
        quota.resources_max = arguments.resources_max;
    }
    if (verb.count("--max-domains") > 0) {
        quota.domains_max = arguments.domains_max;
    }
    return quota;
}

// "any" when the project adds nothing to the listeners' client networks.
std::string networks_text(const store::ProjectRecord& project) {
    std::string text;
    for (const std::string& network : project.networks) {
        text += (text.empty() ? "" : ", ") + network;
    }
    return text.empty() ? "any" : text;
}

int project_list(const Command& command, const store::TenantData& data) {
    if (command.arguments.json) {
        json out = json::array();
        for (const store::ProjectRecord& project : data.projects) {
            out.push_back(project_json(data, project));
        }
        print_json(out);
        return 0;
    }
    std::printf("%-32s %9s %13s %16s  %s\n", "PROJECT", "RESOURCES", "MAX RESOURCES",
                "DOMAINS/RESOURCE", "NETWORKS");
    for (const store::ProjectRecord& project : data.projects) {
        std::printf("%-32s %9zu %13u %16u  %s\n", project.name.c_str(),
                    resources_of(data, project.name), project.resources_max, project.domains_max,
                    networks_text(project).c_str());
    }
    return 0;
}

int set_networks(const Command& command) {
    const std::string& name = command.arguments.name;
    if (Status changed = command.store.set_networks(name, command.arguments.networks); !changed) {
        return fail(changed.error().message);
    }
    auto data = command.store.load();
    const store::ProjectRecord* project = data ? find_project(*data, name) : nullptr;
    if (project == nullptr) {
        return fail("project " + name + " changed while reading it back");
    }
    if (command.arguments.json) {
        print_json(project_json(*data, *project));
    } else if (project->networks.empty()) {
        std::printf("project %s: logins from any of the listeners' client networks\n",
                    name.c_str());
    } else {
        std::printf("project %s: logins only from %s\n", name.c_str(),
                    networks_text(*project).c_str());
    }
    return 0;
}

int run_project(const Command& command, const CLI::App& verb) {
    const std::string& name = command.arguments.name;
    if (command.verb == "set-networks") {
        return set_networks(command);
    }
    if (command.verb == "add" || command.verb == "set-quota") {
        store::QuotaChange quota = quota_of(verb, command.arguments);
        if (command.verb == "set-quota" && !quota.resources_max && !quota.domains_max) {
            std::fprintf(stderr,
                         "relayctl: project set-quota needs --max-resources N and/or "
                         "--max-domains N\n");
            return 2;
        }
        Status changed = command.verb == "add" ? command.store.add_project(name, quota)
                                               : command.store.set_quota(name, quota);
        if (!changed) {
            return fail(changed.error().message);
        }
        auto data = command.store.load();
        const store::ProjectRecord* project = data ? find_project(*data, name) : nullptr;
        if (project == nullptr) {
            return fail("project " + name + " changed while reading it back");
        }
        if (command.arguments.json) {
            print_json(project_json(*data, *project));
        } else {
            std::printf("project %s %s: up to %s, %s per resource\n", name.c_str(),
                        command.verb == "add" ? "added" : "changed",
                        plural(project->resources_max, "resource").c_str(),
                        plural(project->domains_max, "domain").c_str());
        }
        return 0;
    }
    auto data = command.store.load();
    if (!data) {
        return fail(data.error().message);
    }
    if (command.verb == "list") {
        return project_list(command, *data);
    }
    std::size_t resources = 0;
    std::size_t domains = 0;
    for (const store::ResourceRecord& resource : data->resources) {
        if (resource.project == name) {
            ++resources;
            domains += resource.domains.size();
        }
    }
    if (Status removed = command.store.remove_project(name); !removed) {
        return fail(removed.error().message);
    }
    if (command.arguments.json) {
        print_json({{"removed", name}, {"resources", resources}, {"domains", domains}});
    } else {
        std::printf("project %s removed, with %s and %s\n", name.c_str(),
                    plural(resources, "resource").c_str(), plural(domains, "domain").c_str());
    }
    return 0;
}

// `resource add` and `resource passwd`: a new password, hashed here, printed once.
int set_new_password(const Command& command) {
    const std::string& username = command.arguments.name;
    if (auto parsed = store::parse_username(username); !parsed) {
        return fail(parsed.error().message);
    }
    auto password = policy::generate_password();
    if (!password) {
        return fail(password.error().message);
    }
    const config::Credentials& c = command.config.credentials;
    auto hash = policy::hash_password(
        *password, {c.argon2_memory_kib, c.argon2_iterations, c.argon2_parallelism});
    if (!hash) {
        return fail(hash.error().message);
    }
    Status changed = command.verb == "add" ? command.store.add_resource(username, *hash)
                                           : command.store.set_password(username, *hash);
    if (!changed) {
        return fail(changed.error().message);
    }
    if (command.arguments.json) {
        print_json({{"username", username}, {"password", *password}});
        return 0;
    }
    if (command.verb == "add") {
        std::printf("resource %s added\n", username.c_str());
    }
    std::printf("username: %s\npassword: %s\n", username.c_str(), password->c_str());
    std::printf("(shown only this once; relayctl resource passwd %s replaces it)\n",
                username.c_str());
    return 0;
}

// `resource set-policy P/N exclude|reject_message`.
int set_stop_policy(const Command& command) {
    const std::string& username = command.arguments.name;
    auto policy = store::parse_stop_policy(command.arguments.stop_policy);
    RELAY_ASSERT(policy.has_value());  // CLI11 checked it
    if (Status changed = command.store.set_stop_policy(username, *policy); !changed) {
        return fail(changed.error().message);
    }
    if (command.arguments.json) {
        print_json({{"username", username}, {"stop_policy", store::stop_policy_name(*policy)}});
    } else {
        std::printf("resource %s: stop policy %s\n", username.c_str(),
                    std::string(store::stop_policy_name(*policy)).c_str());
    }
    return 0;
}

// `resource set-limit`: the store checks the bounds and says which value is wrong.
int set_rate_limit(const Command& command) {
    const std::string& username = command.arguments.name;
    std::int64_t messages = command.arguments.rate_messages;
    std::int64_t window_s = command.arguments.rate_window_s;
    // Values past 32 bits are refused here with the store's words; the store checks the rest.
    if (messages < 0 || messages > UINT32_MAX) {
        return fail("resource set-limit: messages must be 1 to " +
                    std::to_string(store::rate_messages_max) + ", not " + std::to_string(messages));
    }
    if (window_s < 0 || window_s > UINT32_MAX) {
        return fail("resource set-limit: window must be 1 to " +
                    std::to_string(store::rate_window_s_max) + " seconds, not " +
                    std::to_string(window_s));
    }
    Status changed = command.store.set_rate_limit(username, static_cast<std::uint32_t>(messages),
                                                  static_cast<std::uint32_t>(window_s));
    if (!changed) {
        std::string message = changed.error().message;
        if (message.starts_with("messages") || message.starts_with("window")) {
            message = "resource set-limit: " + message;
        }
        return fail(message);
    }
    if (command.arguments.json) {
        print_json(
            {{"username", username}, {"rate_messages", messages}, {"rate_window_s", window_s}});
    } else {
        std::printf("resource %s: at most %lld messages per %lld s\n", username.c_str(),
                    static_cast<long long>(messages), static_cast<long long>(window_s));
    }
    return 0;
}

// `resource set-return-path P/N ADDR|--clear`: the store checks the address.
int set_return_path(const Command& command) {
    const std::string& username = command.arguments.name;
    if (command.arguments.clear == !command.arguments.return_path.empty()) {
        std::fprintf(stderr, "relayctl: resource set-return-path needs ADDR or --clear\n");
        return 2;
    }
    if (Status changed = command.store.set_return_path(username, command.arguments.return_path);
        !changed) {
        return fail(changed.error().message);
    }
    auto data = command.store.load();
    const store::ResourceRecord* resource = data ? find_resource(*data, username) : nullptr;
    if (resource == nullptr) {
        return fail("resource " + username + " changed while reading it back");
    }
    if (command.arguments.json) {
        print_json({{"username", username},
                    {"return_path",
                     resource->return_path.empty() ? json(nullptr) : json(resource->return_path)}});
    } else if (resource->return_path.empty()) {
        std::printf(
            "resource %s: no return path of its own (the technical bounce address, if "
            "configured)\n",
            username.c_str());
    } else {
        std::printf("resource %s: return path %s\n", username.c_str(),
                    resource->return_path.c_str());
    }
    return 0;
}

int run_resource(const Command& command) {
    if (command.verb == "add" || command.verb == "passwd") {
        return set_new_password(command);
    }
    if (command.verb == "set-policy") {
        return set_stop_policy(command);
    }
    if (command.verb == "set-limit") {
        return set_rate_limit(command);
    }
    if (command.verb == "set-return-path") {
        return set_return_path(command);
    }
    auto data = command.store.load();
    if (!data) {
        return fail(data.error().message);
    }
    const std::string& name = command.arguments.name;
    if (command.verb == "remove") {
        const store::ResourceRecord* resource = find_resource(*data, name);
        std::size_t domains = resource != nullptr ? resource->domains.size() : 0;
        if (Status removed = command.store.remove_resource(name); !removed) {
            return fail(removed.error().message);
        }
        if (command.arguments.json) {
            print_json({{"removed", name}, {"domains", domains}});
        } else {
            std::printf("resource %s removed, with %s\n", name.c_str(),
                        plural(domains, "domain").c_str());
        }
        return 0;
    }
    if (!name.empty() && find_project(*data, name) == nullptr) {
        return fail("no project " + name);
    }
    json out = json::array();
    if (!command.arguments.json) {
        std::printf("%-48s %-16s %s\n", "RESOURCE (SMTP USERNAME)", "RATE LIMIT", "DOMAINS");
    }
    for (const store::ResourceRecord& resource : data->resources) {
        if (!name.empty() && resource.project != name) {
            continue;
        }
        out.push_back({{"username", resource.username()},
                       {"project", resource.project},
                       {"name", resource.name},
                       {"domains", resource.domains}});
        out.back()["stop_policy"] = store::stop_policy_name(resource.stop_policy);
        out.back()["rate_messages"] = resource.rate_messages;
        out.back()["rate_window_s"] = resource.rate_window_s;
        if (!resource.return_path.empty()) {
            out.back()["return_path"] = resource.return_path;
        }
        std::string domains;
        for (const std::string& domain : resource.domains) {
            domains += (domains.empty() ? "" : ", ") + domain;
        }
        if (!command.arguments.json) {
            std::string rate = std::to_string(resource.rate_messages) + "/" +
                               std::to_string(resource.rate_window_s) + "s";
            std::printf("%-48s %-16s %s\n", resource.username().c_str(), rate.c_str(),
                        domains.c_str());
        }
    }
    if (command.arguments.json) {
        print_json(out);
    }
    return 0;
}

int run_domain(const Command& command) {
    const std::string& username = command.arguments.name;
    if (command.verb == "list") {
        auto data = command.store.load();
        if (!data) {
            return fail(data.error().message);
        }
        const store::ResourceRecord* resource = find_resource(*data, username);
        if (resource == nullptr) {
            auto parsed = store::parse_username(username);
            return fail(parsed ? "no resource " + username : parsed.error().message);
        }
        json out = json::array();
        for (const std::string& domain : resource->domains) {
            out.push_back({{"domain", domain}, {"resource", username}});
            if (!command.arguments.json) {
                std::printf("%s\n", domain.c_str());
            }
        }
        if (command.arguments.json) {
            print_json(out);
        }
        return 0;
    }
    const std::string& domain = command.arguments.domain;
    Status changed = command.verb == "add" ? command.store.add_domain(username, domain)
                                           : command.store.remove_domain(username, domain);
    if (!changed) {
        return fail(changed.error().message);
    }
    std::string canonical = store::check_domain(domain).value();
    if (command.arguments.json) {
        print_json(
            {{command.verb == "add" ? "added" : "removed", canonical}, {"resource", username}});
    } else {
        std::printf("domain %s %s %s\n", canonical.c_str(),
                    command.verb == "add" ? "added to" : "removed from", username.c_str());
    }
    return 0;
}

CLI::App* add_verb(CLI::App& noun, const char* name, const char* description,
                   TenantArguments& arguments) {
    CLI::App* verb = noun.add_subcommand(name, description);
    verb->add_flag("--json", arguments.json, "machine-readable output");
    return verb;
}

void add_quota_options(CLI::App& verb, TenantArguments& arguments) {
    verb.add_option("--max-resources", arguments.resources_max, "resources the project may have")
        ->check(CLI::Range(std::uint32_t{1}, store::quota_max));
    verb.add_option("--max-domains", arguments.domains_max, "domains each resource may have")
        ->check(CLI::Range(std::uint32_t{1}, store::quota_max));
}

const CLI::App* parsed_verb(const CLI::App& noun) {
    for (const CLI::App* verb : noun.get_subcommands()) {
        if (verb->parsed()) {
            return verb;
        }
    }
    return nullptr;
}

}  // namespace

TenantCommands add_tenant_commands(CLI::App& app, TenantArguments& arguments) {
    TenantCommands commands;
    CLI::App* project = app.add_subcommand("project", "projects (customer accounts) and quotas");
    project->require_subcommand(1);
    CLI::App* verb = add_verb(*project, "add", "add a project", arguments);
    verb->add_option("name", arguments.name, "project name")->required();
    add_quota_options(*verb, arguments);
    add_verb(*project, "list", "list projects with their quotas", arguments);
    verb = add_verb(*project, "remove", "remove a project, its resources and domains", arguments);
    verb->add_option("name", arguments.name, "project name")->required();
    verb = add_verb(*project, "set-quota", "change a project's quotas", arguments);
    verb->add_option("name", arguments.name, "project name")->required();
    add_quota_options(*verb, arguments);
    verb = add_verb(*project, "set-networks",
                    "the client networks the project's logins may come from; none: any of the "
                    "listeners'",
                    arguments);
    verb->add_option("name", arguments.name, "project name")->required();
    verb->add_option("networks", arguments.networks, "CIDR networks, IPv4 or IPv6");
    commands.project = project;

    CLI::App* resource = app.add_subcommand("resource", "resources and their SMTP logins");
    resource->require_subcommand(1);
    verb = add_verb(*resource, "add", "add a resource; prints its password once", arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb = add_verb(*resource, "list", "list resources and their domains", arguments);
    verb->add_option("project", arguments.name, "only this project's resources");
    verb = add_verb(*resource, "remove", "remove a resource and its domains", arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb =
        add_verb(*resource, "passwd", "give a resource a new password; prints it once", arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb = add_verb(*resource, "set-policy",
                    "what a recipient on the stop list does: exclude refuses that recipient, "
                    "reject_message the whole message",
                    arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb->add_option("policy", arguments.stop_policy, "exclude or reject_message")
        ->required()
        ->check(CLI::IsMember({"exclude", "reject_message"}));
    verb = add_verb(*resource, "set-limit",
                    "at most --messages N accepted in any --window SECONDS (default 100 per 300)",
                    arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb->add_option("--messages", arguments.rate_messages, "1 to 1000000")->required();
    verb->add_option("--window", arguments.rate_window_s, "seconds, 1 to 86400")->required();
    verb = add_verb(*resource, "set-return-path",
                    "the envelope sender of the resource's mail instead of the technical bounce "
                    "address; --clear removes it",
                    arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb->add_option("address", arguments.return_path, "LOCAL@DOMAIN");
    verb->add_flag("--clear", arguments.clear, "no return path of its own");
    commands.resource = resource;

    CLI::App* domain = app.add_subcommand("domain", "sender domains of resources");
    domain->require_subcommand(1);
    verb = add_verb(*domain, "add", "add a sender domain to a resource", arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb->add_option("domain", arguments.domain, "domain")->required();
    verb = add_verb(*domain, "list", "list a resource's domains", arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb = add_verb(*domain, "remove", "remove a sender domain from a resource", arguments);
    verb->add_option("resource", arguments.name, "PROJECT/NAME")->required();
    verb->add_option("domain", arguments.domain, "domain")->required();
    commands.domain = domain;
    return commands;
}

std::optional<int> run_tenant_command(const config::Config& config, const TenantCommands& commands,
                                      const TenantArguments& arguments) {
    const CLI::App* noun = commands.project->parsed()    ? commands.project
                           : commands.resource->parsed() ? commands.resource
                           : commands.domain->parsed()   ? commands.domain
                                                         : nullptr;
    if (noun == nullptr) {
        return std::nullopt;
    }
    const CLI::App* verb = parsed_verb(*noun);
    if (verb == nullptr) {
        return 2;
    }
    auto store = store::open_tenant_store(config);
    if (!store) {
        return fail(store.error().message);
    }
    Command command{config, *store.value(), arguments, verb->get_name()};
    if (noun == commands.project) {
        return run_project(command, *verb);
    }
    return noun == commands.resource ? run_resource(command) : run_domain(command);
}

}  // namespace relay::ctl
