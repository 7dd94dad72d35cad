// tenant_records.h -- what the store keeps about tenants: projects, their resources, and the
// sender domains of each resource, with the quotas that bound them.
//
// A project (a customer account) owns resources; a resource owns sender domains and one SMTP
// login, `PROJECT/NAME`, whose password is kept only as an Argon2id hash (PHC string). Quotas
// live on the project: how many resources it may have, and how many domains each of them may.
// A project may also narrow the client networks its logins are accepted from.
//
// Thread: plain values, copied freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::store {

// Quotas a new project gets; an operator raises them per project.
inline constexpr std::uint32_t default_resources_max = 1;
inline constexpr std::uint32_t default_domains_max = 3;
// Upper bound an operator may set, so that a typo cannot make a quota meaningless.
inline constexpr std::uint32_t quota_max = 1'000'000;

// A resource's message rate limit: at most `rate_messages` accepted in any `rate_window_s`
// seconds. Defaults and the bounds an operator may set.
inline constexpr std::uint32_t default_rate_messages = 100;
inline constexpr std::uint32_t default_rate_window_s = 300;
inline constexpr std::uint32_t rate_messages_max = 1'000'000;
inline constexpr std::uint32_t rate_window_s_max = 86'400;

struct ProjectRecord {
    std::string name;
    std::uint32_t resources_max = default_resources_max;
    std::uint32_t domains_max = default_domains_max;  // per resource
    // Client networks ("ADDRESS/BITS", as config::Cidr writes them) its logins may come from,
    // inside the listener's own; empty: no narrowing.
    std::vector<std::string> networks;
};

// What a listed recipient does to a message (docs/stop-lists.md): `exclude` refuses that
// recipient at RCPT, `reject_message` refuses the whole message at DATA.
enum class StopPolicy : std::uint8_t { exclude, reject_message };
std::string_view stop_policy_name(StopPolicy policy);
std::optional<StopPolicy> parse_stop_policy(std::string_view name);

struct ResourceRecord {
    std::string project;
    std::string name;
    std::string password_hash;  // Argon2id, PHC string form
    // Changes with every new password (the store's generation at that write), so that a login
    // remembered with an older password is recognised as stale.
    std::uint64_t password_generation = 0;
    std::vector<std::string> domains;  // lower case, sorted

    // Stop lists.
    StopPolicy stop_policy = StopPolicy::exclude;
    // Message rate limit (policy/rate_limiter.h).
    std::uint32_t rate_messages = default_rate_messages;
    std::uint32_t rate_window_s = default_rate_window_s;
    // The envelope sender of this resource's mail instead of the technical bounce address
    // (docs/tenants.md, "Return path"): a checked address (check_return_path), used as it is.
    // Empty: none.
    std::string return_path;

    std::string username() const { return project + "/" + name; }
};

// A DKIM signing key of a sender domain. A domain may have several (one RSA and one Ed25519
// for RFC 8463 dual signing, or an old and a new selector while the DNS record of the new one
// spreads); each active key gives its own signature. The private key is kept as PEM; the store
// never lets anyone but relayd's user read it (docs/dkim.md, "Keys at rest").
struct DkimKeyRecord {
    std::string domain;            // lower case, a domain of some resource
    std::string selector;          // s=, as given
    std::string algorithm;         // a=: "rsa-sha256" or "ed25519-sha256"
    std::string canonicalization;  // header and body: "relaxed" or "simple"
    std::uint64_t created_unix_s = 0;
    std::string private_key_pem;
};

// Everything the store holds about tenants, as of one generation.
struct TenantData {
    std::uint64_t generation = 0;
    std::vector<ProjectRecord> projects;    // sorted by name
    std::vector<ResourceRecord> resources;  // sorted by username
    std::vector<DkimKeyRecord> dkim_keys;   // sorted by domain, then selector
};

// The project named `name`, or null.
inline const ProjectRecord* find_project(const TenantData& data, std::string_view name) {
    for (const ProjectRecord& project : data.projects) {
        if (project.name == name) {
            return &project;
        }
    }
    return nullptr;
}

// The resource whose username ("project/name") is `username`, or null.
inline const ResourceRecord* find_resource(const TenantData& data, std::string_view username) {
    for (const ResourceRecord& resource : data.resources) {
        if (resource.username() == username) {
            return &resource;
        }
    }
    return nullptr;
}

}  // namespace relay::store
