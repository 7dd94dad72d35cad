// tenant_codec.cc -- tenant records to and from their LMDB values.
#include "tenant_codec.h"

#include <nlohmann/json.hpp>

namespace relay::store::internal {
namespace {

using nlohmann::json;

Error damaged(std::string_view what, std::string_view key) {
    return Error{"the store holds a damaged " + std::string(what) + " record \"" +
                 std::string(key) + "\""};
}

// Records written before stop policies existed have no key: the default, exclude.
bool decode_stop_policy(const json& parsed, ResourceRecord& resource) {
    if (!parsed.contains("stop_policy")) {
        return true;
    }
    auto policy = parsed["stop_policy"].is_string()
                      ? parse_stop_policy(parsed["stop_policy"].get<std::string>())
                      : std::nullopt;
    resource.stop_policy = policy.value_or(StopPolicy::exclude);
    return policy.has_value();
}

}  // namespace

std::string encode_generation(std::uint64_t generation) {
    std::string bytes(8, '\0');
    for (std::size_t index = 0; index < 8; ++index) {
        bytes[index] = static_cast<char>((generation >> (8 * index)) & 0xff);
    }
    return bytes;
}

Result<std::uint64_t> decode_generation(std::string_view bytes) {
    if (bytes.size() != 8) {
        return damaged("meta", "generation");
    }
    std::uint64_t generation = 0;
    for (std::size_t index = 0; index < 8; ++index) {
        generation |= std::uint64_t{static_cast<unsigned char>(bytes[index])} << (8 * index);
    }
    return generation;
}

std::string encode_project(const ProjectRecord& project) {
    json value{{"resources_max", project.resources_max}, {"domains_max", project.domains_max}};
    if (!project.networks.empty()) {
        value["networks"] = project.networks;
    }
    return value.dump();
}

Result<ProjectRecord> decode_project(std::string_view name, std::string_view value) {
    json parsed = json::parse(value, nullptr, false);
    if (!parsed.is_object() || !parsed["resources_max"].is_number_unsigned() ||
        !parsed["domains_max"].is_number_unsigned()) {
        return damaged("project", name);
    }
    ProjectRecord project;
    project.name = std::string(name);
    project.resources_max = parsed["resources_max"].get<std::uint32_t>();
    project.domains_max = parsed["domains_max"].get<std::uint32_t>();
    if (!parsed.contains("networks")) {
        return project;  // written before projects had networks, or with none
    }
    if (!parsed["networks"].is_array()) {
        return damaged("project", name);
    }
    for (const json& network : parsed["networks"]) {
        if (!network.is_string()) {
            return damaged("project", name);
        }
        project.networks.push_back(network.get<std::string>());
    }
    return project;
}

std::string encode_resource(const ResourceRecord& resource) {
    json value{{"password_hash", resource.password_hash},
               {"password_generation", resource.password_generation},
               {"domains", resource.domains}};
    value["stop_policy"] = stop_policy_name(resource.stop_policy);
    return value.dump();
}

Result<ResourceRecord> decode_resource(std::string_view username, std::string_view value) {
    json parsed = json::parse(value, nullptr, false);
    std::size_t slash = username.find('/');
    if (slash == std::string_view::npos || !parsed.is_object() ||
        !parsed["password_hash"].is_string() ||
        !parsed["password_generation"].is_number_unsigned() || !parsed["domains"].is_array()) {
        return damaged("resource", username);
    }
    ResourceRecord resource;
    resource.project = std::string(username.substr(0, slash));
    resource.name = std::string(username.substr(slash + 1));
    resource.password_hash = parsed["password_hash"].get<std::string>();
    resource.password_generation = parsed["password_generation"].get<std::uint64_t>();
    for (const json& domain : parsed["domains"]) {
        if (!domain.is_string()) {
            return damaged("resource", username);
        }
        resource.domains.push_back(domain.get<std::string>());
    }
    if (!decode_stop_policy(parsed, resource)) {
        return damaged("resource", username);
    }
    return resource;
}

}  // namespace relay::store::internal
