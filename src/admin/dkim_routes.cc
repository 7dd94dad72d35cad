// dkim_routes.cc -- DKIM keys over the admin API, made by policy::make_dkim_key as relayctl's
// `dkim generate|import` makes them.
//
//     /dkim-keys          GET ?domain= (paged), POST {domain, selector,
//     algorithm?|private_key_pem?,
//                         canonicalization?}
//     /dkim-keys/D/S      GET, DELETE
//
// A key's private part never leaves the store through the API: responses carry the DNS record.
//
// Thread: the admin thread(s); blocks on the store and on RSA key generation (about 0.1 s).
#include "relay/dkim/key.h"
#include "relay/policy/new_dkim_key.h"
#include "relay/store/tenant_names.h"
#include "routes.h"

namespace relay::admin::internal {
namespace {

Result<json> stored_key_json(const store::DkimKeyRecord& record) {
    auto key = dkim::PrivateKey::load(record.private_key_pem);
    if (!key) {
        return Error{"the store holds a damaged DKIM key " + record.domain + "/" + record.selector +
                     ": " + key.error().message};
    }
    return key_json(record, key->bits(),
                    dkim::dns_txt_record(record.selector, record.domain, *key));
}

HttpResponse list_keys(Call& call) {
    auto page = page_of(call);
    if (!page) {
        return error_response(page.error());
    }
    std::string only;
    if (std::string domain = call.query("domain"); !domain.empty()) {
        auto checked = store::check_domain(domain);
        if (!checked) {
            return error_response(checked.error());
        }
        only = checked.value();
    }
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    json items = json::array();
    std::uint64_t total = 0;
    for (const store::DkimKeyRecord& record : data->dkim_keys) {
        if (!only.empty() && record.domain != only) {
            continue;
        }
        if (total++ < page->offset || items.size() >= page->limit) {
            continue;
        }
        auto item = stored_key_json(record);
        if (!item) {
            return error_response(item.error());
        }
        items.push_back(std::move(item.value()));
    }
    return json_response(200, page_json(std::move(items), total, *page));
}

HttpResponse add_key(Call& call) {
    policy::NewDkimKeyRequest request;
    request.created_unix_s = call.now_s();
    auto domain = required_string(call.body, "domain");
    auto selector = required_string(call.body, "selector");
    auto algorithm = string_field(call.body, "algorithm");
    auto pem = string_field(call.body, "private_key_pem");
    auto canonicalization = string_field(call.body, "canonicalization");
    if (!domain) {
        return error_response(domain.error());
    }
    if (!selector) {
        return error_response(selector.error());
    }
    if (!algorithm || !pem || !canonicalization) {
        return error_response(!algorithm ? algorithm.error()
                              : !pem     ? pem.error()
                                         : canonicalization.error());
    }
    if (algorithm.value() && pem.value()) {
        return error_response(400, "give algorithm (to generate) or private_key_pem (to import)");
    }
    request.domain = *domain;
    request.selector = *selector;
    request.algorithm = algorithm.value().value_or("rsa-2048");
    request.private_key_pem = pem.value().value_or("");
    request.canonicalization = canonicalization.value().value_or("relaxed");
    auto key = policy::make_dkim_key(request);
    if (!key) {
        return error_response(key.error());
    }
    if (Status added = call.store().add_dkim_key(key->record); !added) {
        return error_response(added.error());
    }
    return json_response(201, key_json(key->record, key->bits, key->dns_record));
}

HttpResponse one_key(Call& call) {
    auto domain = store::check_domain(call.segments[1]);
    auto selector = store::check_dkim_selector(call.segments[2]);
    if (!domain || !selector) {
        return error_response(404, "no DKIM key " + call.segments[1] + "/" + call.segments[2]);
    }
    if (call.method() == "DELETE") {
        if (Status removed = call.store().remove_dkim_key(*domain, *selector); !removed) {
            return error_response(removed.error());
        }
        return json_response(200, {{"removed", {{"domain", *domain}, {"selector", *selector}}}});
    }
    if (call.method() != "GET") {
        return method_not_allowed("GET, DELETE");
    }
    auto data = call.store().load();
    if (!data) {
        return error_response(data.error());
    }
    for (const store::DkimKeyRecord& record : data->dkim_keys) {
        if (record.domain == *domain && record.selector == *selector) {
            auto item = stored_key_json(record);
            return item ? json_response(200, item.value()) : error_response(item.error());
        }
    }
    return error_response(404, "no DKIM key " + *domain + "/" + *selector);
}

}  // namespace

HttpResponse dkim_routes(Call& call) {
    if (call.segments.size() == 1) {
        if (call.method() == "GET") {
            return list_keys(call);
        }
        return call.method() == "POST" ? add_key(call) : method_not_allowed("GET, POST");
    }
    if (call.segments.size() != 3) {
        return error_response(404, "no such path (a key is /dkim-keys/DOMAIN/SELECTOR)");
    }
    return one_key(call);
}

}  // namespace relay::admin::internal
