// tenant_codec.cc -- tenant records to and from their LMDB values.
#include "tenant_codec.h"

#include <nlohmann/json.hpp>

#include "relay/store/tenant_names.h"

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

// The rate limit is written only when it is not the default, and a record without it (written
// before resources had one, or with the default) reads as the default.
void encode_rate_limit(const ResourceRecord& resource, json& value) {
    if (resource.rate_messages != default_rate_messages ||
        resource.rate_window_s != default_rate_window_s) {
        value["rate_messages"] = resource.rate_messages;
        value["rate_window_s"] = resource.rate_window_s;
    }
}

bool decode_rate_limit(const json& parsed, ResourceRecord& resource) {
    if (!parsed.contains("rate_messages") && !parsed.contains("rate_window_s")) {
        return true;
    }
    const json& messages = parsed.value("rate_messages", json());
    const json& window = parsed.value("rate_window_s", json());
    if (!messages.is_number_unsigned() || !window.is_number_unsigned() ||
        messages.get<std::uint64_t>() < 1 || messages.get<std::uint64_t>() > rate_messages_max ||
        window.get<std::uint64_t>() < 1 || window.get<std::uint64_t>() > rate_window_s_max) {
        return false;
    }
    resource.rate_messages = messages.get<std::uint32_t>();
    resource.rate_window_s = window.get<std::uint32_t>();
    return true;
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
    encode_rate_limit(resource, value);
    if (!resource.return_path.empty()) {
        value["return_path"] = resource.return_path;
    }
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
    if (!decode_stop_policy(parsed, resource) || !decode_rate_limit(parsed, resource)) {
        return damaged("resource", username);
    }
    if (parsed.contains("return_path")) {  // absent in older records: none
        // Checked again: the spool record holds at most 254 octets (spool::return_path_bytes_max).
        auto checked = parsed["return_path"].is_string()
                           ? store::check_return_path(parsed["return_path"].get<std::string>())
                           : Result<std::string>(Error{"not a string"});
        if (!checked) {
            return damaged("resource", username);
        }
        resource.return_path = std::move(checked.value());
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
