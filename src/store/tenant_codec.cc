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
    return json{{"password_hash", resource.password_hash},
                {"password_generation", resource.password_generation},
                {"domains", resource.domains}}
        .dump();
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
    return resource;
}

std::string dkim_key_name(std::string_view domain, std::string_view selector) {
    return std::string(domain) + "/" + std::string(selector);
}

std::string encode_dkim_key(const DkimKeyRecord& key) {
    return json{{"algorithm", key.algorithm},
                {"canonicalization", key.canonicalization},
                {"created_unix_s", key.created_unix_s},
                {"private_key_pem", key.private_key_pem}}
        .dump();
}

Result<DkimKeyRecord> decode_dkim_key(std::string_view name, std::string_view value) {
    json parsed = json::parse(value, nullptr, false);
    std::size_t slash = name.find('/');
    if (slash == std::string_view::npos || !parsed.is_object() ||
        !parsed["algorithm"].is_string() || !parsed["canonicalization"].is_string() ||
        !parsed["created_unix_s"].is_number_unsigned() || !parsed["private_key_pem"].is_string()) {
        return damaged("DKIM key", name);
    }
    DkimKeyRecord key;
    key.domain = std::string(name.substr(0, slash));
    key.selector = std::string(name.substr(slash + 1));
    key.algorithm = parsed["algorithm"].get<std::string>();
    key.canonicalization = parsed["canonicalization"].get<std::string>();
    key.created_unix_s = parsed["created_unix_s"].get<std::uint64_t>();
    key.private_key_pem = parsed["private_key_pem"].get<std::string>();
    return key;
}

}  // namespace relay::store::internal
