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

    std::string username() const { return project + "/" + name; }
};

// Everything the store holds about tenants, as of one generation.
struct TenantData {
    std::uint64_t generation = 0;
    std::vector<ProjectRecord> projects;    // sorted by name
    std::vector<ResourceRecord> resources;  // sorted by username
};

}  // namespace relay::store
