// dkim_commands.cc -- DKIM keys of sender domains in the tenant store: generated or imported,
// listed with their DNS records, removed.
#include "dkim_commands.h"

#include <chrono>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "output.h"
#include "relay/admin/tenant_view.h"
#include "relay/base/file.h"
#include "relay/dkim/key.h"
#include "relay/policy/new_dkim_key.h"
#include "relay/store/open_tenant_store.h"
#include "relay/store/tenant_names.h"

namespace relay::ctl {
namespace {

using admin::key_json;
using admin::utc_text;

using nlohmann::json;

// A PEM key file is a few KiB; anything much larger is not one.
constexpr std::size_t key_file_bytes_max = 64 * 1024;

std::uint64_t unix_s_now() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

int add_key(store::TenantStore& store, const DkimArguments& arguments, bool generate) {
    if (auto domain = store::check_domain(arguments.domain); !domain) {
        return fail(domain.error().message);
    }
    if (auto selector = store::check_dkim_selector(arguments.selector); !selector) {
        return fail(selector.error().message);
    }
    policy::NewDkimKeyRequest request;
    request.domain = arguments.domain;
    request.selector = arguments.selector;
    request.algorithm = arguments.algorithm;
    request.canonicalization = arguments.canonicalization;
    request.created_unix_s = unix_s_now();
    if (!generate) {
        auto bytes = read_file("key file", arguments.key_path, key_file_bytes_max);
        if (!bytes) {
            return fail(bytes.error().message);
        }
        if (bytes->empty()) {
            return fail("key file " + arguments.key_path + " is empty");
        }
        request.private_key_pem = std::move(bytes.value());
    }
    auto key = policy::make_dkim_key(request);
    if (!key) {
        return fail(generate || key.error().code != ErrorCode::invalid_argument
                        ? key.error().message
                        : "key file " + arguments.key_path + ": " + key.error().message);
    }
    if (Status added = store.add_dkim_key(key->record); !added) {
        return fail(added.error().message);
    }
    if (arguments.json) {
        print_json(key_json(key->record, key->bits, key->dns_record));
        return 0;
    }
    std::printf("DKIM key %s for %s added (%s, %d bits, %s/%s); publish this DNS record:\n%s\n",
                key->record.selector.c_str(), key->record.domain.c_str(),
                key->record.algorithm.c_str(), key->bits, arguments.canonicalization.c_str(),
                arguments.canonicalization.c_str(), key->dns_record.c_str());
    return 0;
}

int list_keys(store::TenantStore& store, const DkimArguments& arguments) {
    std::string only;
    if (!arguments.domain.empty()) {
        auto domain = store::check_domain(arguments.domain);
        if (!domain) {
            return fail(domain.error().message);
        }
        only = domain.value();
    }
    auto data = store.load();
    if (!data) {
        return fail(data.error().message);
    }
    json out = json::array();
    if (!arguments.json) {
        std::printf("%-32s %-20s %-15s %5s %-17s %s\n", "DOMAIN", "SELECTOR", "ALGORITHM", "BITS",
                    "CANONICALIZATION", "CREATED");
    }
    for (const store::DkimKeyRecord& record : data->dkim_keys) {
        if (!only.empty() && record.domain != only) {
            continue;
        }
        auto key = dkim::PrivateKey::load(record.private_key_pem);
        if (!key) {
            return fail("the store holds a damaged DKIM key " + record.domain + "/" +
                        record.selector + ": " + key.error().message);
        }
        if (arguments.json) {
            out.push_back(key_json(record, key->bits(),
                                   dkim::dns_txt_record(record.selector, record.domain, *key)));
            continue;
        }
        std::string canonicalization = record.canonicalization + "/" + record.canonicalization;
        std::printf("%-32s %-20s %-15s %5d %-17s %s\n", record.domain.c_str(),
                    record.selector.c_str(), record.algorithm.c_str(), key->bits(),
                    canonicalization.c_str(), utc_text(record.created_unix_s).c_str());
    }
    if (arguments.json) {
        print_json(out);
    }
    return 0;
}

int remove_key(store::TenantStore& store, const DkimArguments& arguments) {
    if (Status removed = store.remove_dkim_key(arguments.domain, arguments.selector); !removed) {
        return fail(removed.error().message);
    }
    std::string domain = store::check_domain(arguments.domain).value();
    std::string selector = store::check_dkim_selector(arguments.selector).value();
    if (arguments.json) {
        print_json(json{{"removed", {{"domain", domain}, {"selector", selector}}}});
    } else {
        std::printf(
            "DKIM key %s for %s removed (its DNS record may go once mail signed with it "
            "has been delivered)\n",
            selector.c_str(), domain.c_str());
    }
    return 0;
}

CLI::App* add_verb(CLI::App& noun, const char* name, const char* description,
                   DkimArguments& arguments) {
    CLI::App* verb = noun.add_subcommand(name, description);
    verb->add_flag("--json", arguments.json, "machine-readable output");
    return verb;
}

void add_canonicalization_option(CLI::App& verb, DkimArguments& arguments) {
    verb.add_option("--canonicalization", arguments.canonicalization,
                    "header and body canonicalization (default relaxed)")
        ->check(CLI::IsMember({"relaxed", "simple"}));
}

}  // namespace

CLI::App* add_dkim_commands(CLI::App& app, DkimArguments& arguments) {
    CLI::App* dkim = app.add_subcommand("dkim", "DKIM signing keys of sender domains");
    dkim->require_subcommand(1);
    CLI::App* verb =
        add_verb(*dkim, "generate", "a new key; prints the DNS TXT record to publish", arguments);
    verb->add_option("domain", arguments.domain, "a domain of some resource")->required();
    verb->add_option("--selector", arguments.selector, "the s= selector")->required();
    verb->add_option("--algo", arguments.algorithm, "rsa-2048 (default) or ed25519")
        ->check(CLI::IsMember({"rsa-2048", "ed25519"}));
    add_canonicalization_option(*verb, arguments);
    verb = add_verb(*dkim, "import", "an existing key from a PEM file", arguments);
    verb->add_option("domain", arguments.domain, "a domain of some resource")->required();
    verb->add_option("--selector", arguments.selector, "the s= selector")->required();
    verb->add_option("--key", arguments.key_path, "PEM file (PKCS#1 or PKCS#8, unencrypted)")
        ->required();
    add_canonicalization_option(*verb, arguments);
    verb = add_verb(*dkim, "list", "keys, of every domain or of one", arguments);
    verb->add_option("domain", arguments.domain, "only this domain's keys");
    verb = add_verb(*dkim, "remove", "remove a key", arguments);
    verb->add_option("domain", arguments.domain, "domain")->required();
    verb->add_option("selector", arguments.selector, "selector")->required();
    return dkim;
}

std::optional<int> run_dkim_command(const config::Config& config, const CLI::App& dkim,
                                    const DkimArguments& arguments) {
    if (!dkim.parsed()) {
        return std::nullopt;
    }
    const CLI::App* verb = nullptr;
    for (const CLI::App* candidate : dkim.get_subcommands()) {
        verb = candidate->parsed() ? candidate : verb;
    }
    if (verb == nullptr) {
        return 2;
    }
    auto store = store::open_tenant_store(config);
    if (!store) {
        return fail(store.error().message);
    }
    const std::string& name = verb->get_name();
    if (name == "generate" || name == "import") {
        return add_key(*store.value(), arguments, name == "generate");
    }
    return name == "list" ? list_keys(*store.value(), arguments)
                          : remove_key(*store.value(), arguments);
}

}  // namespace relay::ctl
