// tenant_rules.cc -- the tenant rules (quotas, conflicts, cascades) over TenantTables.
//
// Each write reads what its rule needs inside the backend's atomic change, checks it and writes
// the records; an error leaves nothing written. The backends differ only in how a change is made
// atomic (tenant_tables.h).
//
// Thread: the caller's, one call at a time. Blocking: as the backend (disk or network).
#include "tenant_rules.h"

#include <algorithm>

#include "relay/config/values.h"
#include "relay/store/tenant_names.h"
#include "tenant_codec.h"

namespace relay::store::internal {
namespace {

std::string plural(std::uint64_t count, const char* noun) {
    return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// Every record of `table` whose key starts with `prefix`, in key order, through `decode(key,
// value)`; a damaged record fails the whole read (after the scan, so the error names the first).
template <class Record, class Decode>
Result<std::vector<Record>> decode_prefixed(const TenantTables& tables, Table table,
                                            const std::string& prefix, Decode decode) {
    std::vector<Record> found;
    Status damage;
    Status read =
        tables.for_each_prefixed(table, prefix, [&](std::string_view key, std::string_view value) {
            auto record = decode(key, value);
            if (record) {
                found.push_back(std::move(record.value()));
            } else if (damage.ok()) {
                damage = record.error();
            }
        });
    if (!read) {
        return read.error();
    }
    if (!damage) {
        return damage.error();
    }
    return found;
}

Result<ProjectRecord> project(const TenantTables& tables, const std::string& name) {
    auto value = tables.find(Table::projects, name);
    if (!value) {
        return value.error();
    }
    if (!value.value()) {
        return make_error(ErrorCode::not_found, Blame::client, "no project " + name);
    }
    return decode_project(name, *value.value());
}

Result<ResourceRecord> resource(const TenantTables& tables, const Username& username) {
    std::string key = username.project + "/" + username.name;
    auto value = tables.find(Table::resources, key);
    if (!value) {
        return value.error();
    }
    if (!value.value()) {
        return make_error(ErrorCode::not_found, Blame::client, "no resource " + key);
    }
    return decode_resource(key, *value.value());
}

Result<std::vector<ResourceRecord>> resources(const TenantTables& tables,
                                              const std::string& prefix) {
    return decode_prefixed<ResourceRecord>(tables, Table::resources, prefix, decode_resource);
}

Result<std::vector<DkimKeyRecord>> dkim_keys(const TenantTables& tables,
                                             const std::string& prefix) {
    return decode_prefixed<DkimKeyRecord>(tables, Table::dkim_keys, prefix, decode_dkim_key);
}

Status erase_dkim_keys(TenantTables& tables, const std::string& domain) {
    auto keys = dkim_keys(tables, domain + "/");
    if (!keys) {
        return keys.error();
    }
    for (const DkimKeyRecord& key : keys.value()) {
        if (Status erased = tables.erase(Table::dkim_keys, dkim_key_name(key.domain, key.selector));
            !erased) {
            return erased;
        }
    }
    return {};
}

Status erase_resource(TenantTables& tables, const ResourceRecord& resource) {
    for (const std::string& domain : resource.domains) {
        if (Status erased = tables.erase(Table::domains, domain); !erased) {
            return erased;
        }
        if (Status erased = erase_dkim_keys(tables, domain); !erased) {
            return erased;
        }
    }
    if (Status erased = tables.erase_stop_scope(resource.username()); !erased) {
        return erased;
    }
    return tables.erase(Table::resources, resource.username());
}

}  // namespace

template <class Rule>
Status RuledTenantStore::change_resource(const std::string& username, Rule rule) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    return change([&](TenantTables& tables, std::uint64_t generation) -> Status {
        auto record = resource(tables, parsed.value());
        if (!record) {
            return record.error();
        }
        return rule(tables, record.value(), generation);
    });
}

template <class Edit>
Status RuledTenantStore::update_resource(const std::string& username, Edit edit) {
    return change_resource(
        username,
        [&](TenantTables& tables, ResourceRecord& record, std::uint64_t generation) -> Status {
            edit(record, generation);
            return tables.put(Table::resources, username, encode_resource(record));
        });
}

template <class Edit>
Status RuledTenantStore::edit_domain(const std::string& username, const std::string& domain,
                                     Edit edit) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    auto name = check_domain(domain);
    if (!name) {
        return name.error();
    }
    return change([&](TenantTables& tables, std::uint64_t) -> Status {
        auto record = resource(tables, parsed.value());
        if (!record) {
            return record.error();
        }
        return edit(tables, record.value(), name.value());
    });
}

Result<TenantData> RuledTenantStore::load() {
    TenantData data;
    Status loaded = read([&](const TenantTables& tables, std::uint64_t generation) -> Status {
        data.generation = generation;
        auto projects = decode_prefixed<ProjectRecord>(tables, Table::projects, "", decode_project);
        if (!projects) {
            return projects.error();
        }
        data.projects = std::move(projects.value());
        auto all = resources(tables, "");
        if (!all) {
            return all.error();
        }
        data.resources = std::move(all.value());
        auto keys = dkim_keys(tables, "");
        if (!keys) {
            return keys.error();
        }
        data.dkim_keys = std::move(keys.value());
        return {};
    });
    if (!loaded) {
        return loaded.error();
    }
    return data;
}

Status RuledTenantStore::add_project(const std::string& name, const QuotaChange& quota) {
    auto checked = check_name("project", name);
    if (!checked) {
        return checked.error();
    }
    return change([&](TenantTables& tables, std::uint64_t) -> Status {
        auto existing = tables.find(Table::projects, name);
        if (!existing) {
            return existing.error();
        }
        if (existing.value()) {
            return make_error(ErrorCode::already_exists, Blame::client,
                              "project " + name + " already exists");
        }
        ProjectRecord record{name,
                             quota.resources_max.value_or(default_resources_max),
                             quota.domains_max.value_or(default_domains_max),
                             {}};
        return tables.put(Table::projects, name, encode_project(record));
    });
}

Status RuledTenantStore::remove_project(const std::string& name) {
    return change([&](TenantTables& tables, std::uint64_t) -> Status {
        auto record = project(tables, name);
        if (!record) {
            return record.error();
        }
        auto owned = resources(tables, name + "/");
        if (!owned) {
            return owned.error();
        }
        for (const ResourceRecord& resource : owned.value()) {
            if (Status erased = erase_resource(tables, resource); !erased) {
                return erased;
            }
        }
        return tables.erase(Table::projects, name);
    });
}

Status RuledTenantStore::set_quota(const std::string& name, const QuotaChange& quota) {
    return change([&](TenantTables& tables, std::uint64_t) -> Status {
        auto record = project(tables, name);
        if (!record) {
            return record.error();
        }
        auto owned = resources(tables, name + "/");
        if (!owned) {
            return owned.error();
        }
        if (quota.resources_max && owned->size() > *quota.resources_max) {
            return make_error(ErrorCode::failed_precondition, Blame::client,
                              "project " + name + " has " + plural(owned->size(), "resource") +
                                  "; remove some before lowering --max-resources to " +
                                  std::to_string(*quota.resources_max));
        }
        for (const ResourceRecord& resource : owned.value()) {
            if (quota.domains_max && resource.domains.size() > *quota.domains_max) {
                return make_error(ErrorCode::failed_precondition, Blame::client,
                                  "resource " + resource.username() + " has " +
                                      plural(resource.domains.size(), "domain") +
                                      "; remove some before lowering --max-domains to " +
                                      std::to_string(*quota.domains_max));
            }
        }
        record->resources_max = quota.resources_max.value_or(record->resources_max);
        record->domains_max = quota.domains_max.value_or(record->domains_max);
        return tables.put(Table::projects, name, encode_project(record.value()));
    });
}

Status RuledTenantStore::set_networks(const std::string& name,
                                      const std::vector<std::string>& networks) {
    std::vector<std::string> canonical;
    for (const std::string& text : networks) {
        auto network = config::Cidr::parse(text);
        if (!network) {
            return Error{"project " + name + " networks: " + network.error().message};
        }
        std::string written = network->to_string();
        if (std::find(canonical.begin(), canonical.end(), written) == canonical.end()) {
            canonical.push_back(std::move(written));
        }
    }
    return change([&](TenantTables& tables, std::uint64_t) -> Status {
        auto record = project(tables, name);
        if (!record) {
            return record.error();
        }
        record->networks = canonical;
        return tables.put(Table::projects, name, encode_project(record.value()));
    });
}

Status RuledTenantStore::add_resource(const std::string& username,
                                      const std::string& password_hash) {
    auto parsed = parse_username(username);
    if (!parsed) {
        return parsed.error();
    }
    return change([&](TenantTables& tables, std::uint64_t generation) -> Status {
        auto owner = project(tables, parsed->project);
        if (!owner) {
            Error error = owner.error();
            error.message += " (add it with relayctl project add " + parsed->project + ")";
            return error;
        }
        auto owned = resources(tables, parsed->project + "/");
        if (!owned) {
            return owned.error();
        }
        for (const ResourceRecord& resource : owned.value()) {
            if (resource.name == parsed->name) {
                return make_error(ErrorCode::already_exists, Blame::client,
                                  "resource " + username + " already exists");
            }
        }
        if (owned->size() >= owner->resources_max) {
            return make_error(ErrorCode::failed_precondition, Blame::client,
                              "project " + owner->name + " already has " +
                                  std::to_string(owned->size()) + " of " +
                                  std::to_string(owner->resources_max) + " resources" +
                                  "; raise the quota with relayctl project set-quota " +
                                  owner->name + " --max-resources N");
        }
        ResourceRecord record{parsed->project, parsed->name, password_hash, generation, {}};
        return tables.put(Table::resources, username, encode_resource(record));
    });
}

Status RuledTenantStore::remove_resource(const std::string& username) {
    return change_resource(username, [&](TenantTables& tables, ResourceRecord& record,
                                         std::uint64_t) { return erase_resource(tables, record); });
}

Status RuledTenantStore::set_password(const std::string& username,
                                      const std::string& password_hash) {
    return update_resource(username, [&](ResourceRecord& record, std::uint64_t generation) {
        record.password_hash = password_hash;
        record.password_generation = generation;
    });
}

Status RuledTenantStore::add_domain(const std::string& username, const std::string& domain) {
    return edit_domain(
        username, domain,
        [&](TenantTables& tables, ResourceRecord& record, const std::string& name) -> Status {
            auto owner = tables.find(Table::domains, name);
            if (!owner) {
                return owner.error();
            }
            if (owner.value()) {
                return make_error(
                    ErrorCode::already_exists, Blame::client,
                    *owner.value() == username
                        ? "domain " + name + " is already a domain of " + username
                        : "domain " + name + " already belongs to resource " + *owner.value());
            }
            auto limits = project(tables, record.project);
            if (!limits) {
                return limits.error();
            }
            if (record.domains.size() >= limits->domains_max) {
                return make_error(ErrorCode::failed_precondition, Blame::client,
                                  "resource " + username + " already has " +
                                      std::to_string(record.domains.size()) + " of " +
                                      std::to_string(limits->domains_max) + " domains" +
                                      "; raise the quota with relayctl project set-quota " +
                                      record.project + " --max-domains N");
            }
            auto position = std::lower_bound(record.domains.begin(), record.domains.end(), name);
            record.domains.insert(position, name);
            if (Status put = tables.put(Table::domains, name, username); !put) {
                return put;
            }
            return tables.put(Table::resources, username, encode_resource(record));
        });
}

Status RuledTenantStore::remove_domain(const std::string& username, const std::string& domain) {
    return edit_domain(
        username, domain,
        [&](TenantTables& tables, ResourceRecord& record, const std::string& name) -> Status {
            auto position = std::find(record.domains.begin(), record.domains.end(), name);
            if (position == record.domains.end()) {
                return make_error(ErrorCode::not_found, Blame::client,
                                  "domain " + name + " is not a domain of " + username);
            }
            record.domains.erase(position);
            if (Status erased = tables.erase(Table::domains, name); !erased) {
                return erased;
            }
            if (Status erased = erase_dkim_keys(tables, name); !erased) {
                return erased;
            }
            return tables.put(Table::resources, username, encode_resource(record));
        });
}

Status RuledTenantStore::set_stop_policy(const std::string& username, StopPolicy policy) {
    return update_resource(
        username, [&](ResourceRecord& record, std::uint64_t) { record.stop_policy = policy; });
}

Status RuledTenantStore::add_dkim_key(const DkimKeyRecord& key) {
    auto domain = check_domain(key.domain);
    if (!domain) {
        return domain.error();
    }
    auto selector = check_dkim_selector(key.selector);
    if (!selector) {
        return selector.error();
    }
    if (key.algorithm != "rsa-sha256" && key.algorithm != "ed25519-sha256") {
        return make_error(
            ErrorCode::invalid_argument, Blame::client,
            "DKIM algorithm \"" + key.algorithm + "\" is not rsa-sha256 or ed25519-sha256");
    }
    if (key.canonicalization != "relaxed" && key.canonicalization != "simple") {
        return make_error(
            ErrorCode::invalid_argument, Blame::client,
            "DKIM canonicalization \"" + key.canonicalization + "\" is not relaxed or simple");
    }
    DkimKeyRecord record = key;
    record.domain = domain.value();
    record.selector = selector.value();
    std::string name = dkim_key_name(record.domain, record.selector);
    return change([&](TenantTables& tables, std::uint64_t) -> Status {
        auto owner = tables.find(Table::domains, record.domain);
        if (!owner) {
            return owner.error();
        }
        if (!owner.value()) {
            return make_error(ErrorCode::failed_precondition, Blame::client,
                              "domain " + record.domain +
                                  " is not a domain of any resource (add it first with relayctl "
                                  "domain add PROJECT/NAME " +
                                  record.domain + ")");
        }
        auto existing = tables.find(Table::dkim_keys, name);
        if (!existing) {
            return existing.error();
        }
        if (existing.value()) {
            return make_error(ErrorCode::already_exists, Blame::client,
                              "domain " + record.domain + " already has a DKIM key with selector " +
                                  record.selector + " (remove it first with relayctl dkim remove " +
                                  record.domain + " " + record.selector + ")");
        }
        return tables.put(Table::dkim_keys, name, encode_dkim_key(record));
    });
}

Status RuledTenantStore::remove_dkim_key(const std::string& domain, const std::string& selector) {
    auto name = check_domain(domain);
    if (!name) {
        return name.error();
    }
    auto checked = check_dkim_selector(selector);
    if (!checked) {
        return checked.error();
    }
    std::string key = dkim_key_name(name.value(), checked.value());
    return change([&](TenantTables& tables, std::uint64_t) -> Status {
        auto existing = tables.find(Table::dkim_keys, key);
        if (!existing) {
            return existing.error();
        }
        if (!existing.value()) {
            return make_error(ErrorCode::not_found, Blame::client,
                              "domain " + *name + " has no DKIM key with selector " + *checked);
        }
        return tables.erase(Table::dkim_keys, key);
    });
}

// Bounded so that a typo cannot make the limit meaningless (or its budget huge in memory: 8
// bytes per message of the limit).
Status RuledTenantStore::set_rate_limit(const std::string& username, std::uint32_t messages,
                                        std::uint32_t window_s) {
    if (messages < 1 || messages > rate_messages_max) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "messages must be 1 to " + std::to_string(rate_messages_max) + ", not " +
                              std::to_string(messages));
    }
    if (window_s < 1 || window_s > rate_window_s_max) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "window must be 1 to " + std::to_string(rate_window_s_max) +
                              " seconds, not " + std::to_string(window_s));
    }
    return update_resource(username, [&](ResourceRecord& record, std::uint64_t) {
        record.rate_messages = messages;
        record.rate_window_s = window_s;
    });
}

Status RuledTenantStore::set_return_path(const std::string& username, const std::string& address) {
    std::string checked;
    if (!address.empty()) {
        auto valid = check_return_path(address);
        if (!valid) {
            return valid.error();
        }
        checked = std::move(valid.value());
    }
    return update_resource(
        username, [&](ResourceRecord& record, std::uint64_t) { record.return_path = checked; });
}

}  // namespace relay::store::internal
