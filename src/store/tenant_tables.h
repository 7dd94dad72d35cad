// tenant_tables.h -- the four tenant tables as a backend shows them to the tenant rules, inside
// one atomic change.
//
//     projects   NAME -> encode_project        resources  PROJECT/NAME -> encode_resource
//     domains    DOMAIN -> PROJECT/NAME        dkim_keys  DOMAIN/SELECTOR -> encode_dkim_key
//
// The rules (tenant_rules.h) read and write records through this interface only, so the LMDB
// backend (one write transaction) and the Redis backend (reads under WATCH, writes buffered into
// MULTI/EXEC) enforce the same quotas and conflicts from the same code.
//
// Thread: one change at a time, on the thread that runs it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "relay/base/result.h"

namespace relay::store::internal {

enum class Table : std::uint8_t { projects, resources, domains, dkim_keys };

class TenantTables {
  public:
    virtual ~TenantTables() = default;

    // The value under `key`, nullopt when absent.
    virtual Result<std::optional<std::string>> find(Table table, std::string_view key) const = 0;
    // Calls `visit(key, value)` for each entry whose key starts with `prefix`, in key order.
    virtual Status for_each_prefixed(
        Table table, std::string_view prefix,
        const std::function<void(std::string_view, std::string_view)>& visit) const = 0;
    virtual Status put(Table table, std::string_view key, std::string_view value) = 0;
    virtual Status erase(Table table, std::string_view key) = 0;
    // Erases the stop-list entries of a resource being removed, in the same change.
    virtual Status erase_stop_scope(const std::string& scope) = 0;
};

}  // namespace relay::store::internal
