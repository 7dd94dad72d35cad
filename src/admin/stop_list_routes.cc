// stop_list_routes.cc -- the stop lists over the admin API, through the store's StopListStore as
// relayctl's `stoplist` commands.
//
//     /stop-list                 GET ?resource=P/N&prefix=&search= (paged), POST {address,
//                                resource?, reason?, expires_in_s?}
//     /stop-list/check           GET ?address=&resource=
//     /stop-list/ADDRESS         GET, DELETE ?resource=P/N    (ADDRESS: local@domain or @domain)
//
// Without `resource` a request means the global list. Listing visits the list in key order
// (domain, then local part) and keeps only the page, so a list of millions costs a scan, not
// memory.
//
// Thread: the admin thread(s); blocks on the store.
#include "relay/store/tenant_names.h"
#include "routes.h"

namespace relay::admin::internal {
namespace {

constexpr std::uint64_t expires_in_s_max = 100ull * 365 * 86400;

json entry_json(const store::StopEntry& entry, std::uint64_t now_s) {
    return {{"address", entry.address.text()},
            {"scope", entry.scope.empty() ? "global" : entry.scope},
            {"reason", store::stop_reason_name(entry.reason)},
            {"added", utc_text(entry.added_s)},
            {"expires", entry.expires_s == 0 ? json(nullptr) : json(utc_text(entry.expires_s))},
            {"expired", entry.expired(now_s)}};
}

// The list a request names: `resource` (which must exist) or the global list.
Result<std::string> scope_of(Call& call, const std::string& resource) {
    if (resource.empty()) {
        return std::string();
    }
    if (auto parsed = store::parse_username(resource); !parsed) {
        return parsed.error();
    }
    auto data = call.store().load();
    if (!data) {
        return data.error();
    }
    for (const store::ResourceRecord& record : data->resources) {
        if (record.username() == resource) {
            return resource;
        }
    }
    return make_error(ErrorCode::not_found, Blame::client, "no resource " + resource);
}

bool contains_folded(std::string_view text, std::string_view part) {
    auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return std::search(text.begin(), text.end(), part.begin(), part.end(),
                       [&](char a, char b) { return fold(a) == fold(b); }) != text.end();
}

HttpResponse list_entries(Call& call, const std::string& scope) {
    auto page = page_of(call);
    if (!page) {
        return error_response(page.error());
    }
    std::string prefix = call.query("prefix");
    std::string search = call.query("search");
    json items = json::array();
    std::uint64_t total = 0;
    std::uint64_t now_s = call.now_s();
    Status read =
        call.store().stop_lists().for_each_stop(scope, [&](const store::StopEntry& entry) {
            std::string text = entry.address.text();
            if (!text.starts_with(prefix) || !contains_folded(text, search)) {
                return;
            }
            if (total++ >= page->offset && items.size() < page->limit) {
                items.push_back(entry_json(entry, now_s));
            }
        });
    if (!read) {
        return error_response(read.error());
    }
    return json_response(200, page_json(std::move(items), total, *page));
}

HttpResponse add_entry(Call& call) {
    auto address_text = required_string(call.body, "address");
    auto resource = string_field(call.body, "resource");
    auto reason_name = string_field(call.body, "reason");
    auto expires_in_s = unsigned_field(call.body, "expires_in_s", expires_in_s_max);
    if (!address_text) {
        return error_response(address_text.error());
    }
    if (!resource || !reason_name || !expires_in_s) {
        return error_response(!resource      ? resource.error()
                              : !reason_name ? reason_name.error()
                                             : expires_in_s.error());
    }
    auto scope = scope_of(call, resource.value().value_or(""));
    if (!scope) {
        return error_response(scope.error());
    }
    auto address = store::parse_stop_address(*address_text);
    if (!address) {
        return error_response(address.error());
    }
    auto reason = store::parse_stop_reason(reason_name.value().value_or("manual"));
    if (!reason) {
        return error_response(400, "reason must be hard_bounce, complaint, unsubscribe or manual");
    }
    std::uint64_t now_s = call.now_s();
    store::StopEntry entry{scope.value(), std::move(address.value()), *reason, now_s, 0};
    if (expires_in_s.value().value_or(0) > 0) {
        entry.expires_s = now_s + *expires_in_s.value();
    }
    if (Status added = call.store().stop_lists().add_stop(entry); !added) {
        return error_response(added.error());
    }
    return json_response(201, entry_json(entry, now_s));
}

HttpResponse check(Call& call) {
    auto scope = scope_of(call, call.query("resource"));
    if (!scope) {
        return error_response(scope.error());
    }
    auto address = store::parse_stop_address(call.query("address"));
    if (!address || address->whole_domain()) {
        return error_response(
            400, address ? "check takes an address, not a whole domain" : address.error().message);
    }
    std::string recipient = address->text();
    auto found = call.store().stop_lists().find_stop(scope.value(), recipient, call.now_s());
    if (!found) {
        return error_response(found.error());
    }
    json out{{"address", recipient}, {"listed", found.value().has_value()}};
    if (found.value()) {
        out["entry"] = entry_json(*found.value(), call.now_s());
    }
    return json_response(200, out);
}

HttpResponse one_entry(Call& call) {
    auto scope = scope_of(call, call.query("resource"));
    if (!scope) {
        return error_response(scope.error());
    }
    auto address = store::parse_stop_address(call.segments[1]);
    if (!address) {
        return error_response(address.error());
    }
    std::string list = scope->empty() ? "the global list" : "the list of " + scope.value();
    if (call.method() == "DELETE") {
        auto removed = call.store().stop_lists().remove_stop(scope.value(), address.value());
        if (!removed) {
            return error_response(removed.error());
        }
        if (!removed.value()) {
            return error_response(404, address->text() + " is not on " + list);
        }
        return json_response(
            200, {{"removed", address->text()}, {"scope", scope->empty() ? "global" : *scope}});
    }
    if (call.method() != "GET") {
        return method_not_allowed("GET, DELETE");
    }
    std::optional<json> found;
    std::string wanted = address->text();
    Status read =
        call.store().stop_lists().for_each_stop(scope.value(), [&](const store::StopEntry& entry) {
            if (!found && entry.address.text() == wanted) {
                found = entry_json(entry, call.now_s());
            }
        });
    if (!read) {
        return error_response(read.error());
    }
    return found ? json_response(200, *found) : error_response(404, wanted + " is not on " + list);
}

}  // namespace

HttpResponse stop_list_routes(Call& call) {
    if (call.segments.size() == 1) {
        if (call.method() == "GET") {
            auto scope = scope_of(call, call.query("resource"));
            return scope ? list_entries(call, scope.value()) : error_response(scope.error());
        }
        return call.method() == "POST" ? add_entry(call) : method_not_allowed("GET, POST");
    }
    if (call.segments.size() != 2) {
        return error_response(404, "no such path");
    }
    if (call.segments[1] == "check") {
        return call.method() == "GET" ? check(call) : method_not_allowed("GET");
    }
    return one_entry(call);
}

}  // namespace relay::admin::internal
