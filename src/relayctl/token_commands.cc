// token_commands.cc -- admin API tokens from the command line.
#include "token_commands.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "output.h"
#include "relay/admin/token.h"
#include "relay/base/clock.h"
#include "relay/store/open_tenant_store.h"

namespace relay::ctl {
namespace {

using nlohmann::json;

int add(store::AdminTokenStore& tokens, const TokenArguments& arguments) {
    if (Status name = store::check_admin_token_name(arguments.name); !name) {
        return fail(name.error().message);
    }
    auto token = admin::generate_admin_token();
    if (!token) {
        return fail(token.error().message);
    }
    std::uint64_t now_s = unix_ms_now() / 1000;
    if (Status added = tokens.add_admin_token({arguments.name, token->sha256_hex, now_s}); !added) {
        return fail(added.error().message);
    }
    if (arguments.json) {
        print_json(json{{"name", arguments.name}, {"token", token->token}});
        return 0;
    }
    std::printf("admin token %s added\ntoken: %s\n", arguments.name.c_str(), token->token.c_str());
    std::printf("(shown only this once; send it as \"Authorization: Bearer TOKEN\")\n");
    return 0;
}

int list(store::AdminTokenStore& tokens, const TokenArguments& arguments) {
    auto all = tokens.admin_tokens();
    if (!all) {
        return fail(all.error().message);
    }
    json out = json::array();
    if (!arguments.json) {
        std::printf("%-32s %s\n", "NAME", "CREATED");
    }
    for (const store::AdminTokenRecord& token : all.value()) {
        std::string created = iso8601_time(token.created_s * 1000);
        out.push_back({{"name", token.name}, {"created", created}});
        if (!arguments.json) {
            std::printf("%-32s %s\n", token.name.c_str(), created.c_str());
        }
    }
    if (arguments.json) {
        print_json(out);
    }
    return 0;
}

int remove(store::AdminTokenStore& tokens, const TokenArguments& arguments) {
    auto removed = tokens.remove_admin_token(arguments.name);
    if (!removed) {
        return fail(removed.error().message);
    }
    if (!removed.value()) {
        return fail("no admin token " + arguments.name);
    }
    if (arguments.json) {
        print_json(json{{"removed", arguments.name}});
    } else {
        std::printf("admin token %s removed\n", arguments.name.c_str());
    }
    return 0;
}

}  // namespace

CLI::App* add_token_commands(CLI::App& app, TokenArguments& arguments) {
    CLI::App* noun = app.add_subcommand("admin-token", "bearer tokens of the admin HTTP API");
    noun->alias("token");
    noun->require_subcommand(1);
    CLI::App* verb = noun->add_subcommand("add", "a new token; prints it once");
    verb->add_option("name", arguments.name, "a name for the token (who or what uses it)")
        ->required();
    verb->add_flag("--json", arguments.json, "machine-readable output");
    verb = noun->add_subcommand("list", "token names and when they were made");
    verb->add_flag("--json", arguments.json, "machine-readable output");
    verb = noun->add_subcommand("remove", "remove a token: requests with it get 401 at once");
    verb->add_option("name", arguments.name, "the token's name")->required();
    verb->add_flag("--json", arguments.json, "machine-readable output");
    return noun;
}

std::optional<int> run_token_command(const config::Config& config, const CLI::App& noun,
                                     const TokenArguments& arguments) {
    if (!noun.parsed()) {
        return std::nullopt;
    }
    auto store = store::open_tenant_store(config);
    if (!store) {
        return fail(store.error().message);
    }
    store::AdminTokenStore& tokens = store.value()->admin_tokens();
    if (noun.got_subcommand("add")) {
        return add(tokens, arguments);
    }
    return noun.got_subcommand("list") ? list(tokens, arguments) : remove(tokens, arguments);
}

}  // namespace relay::ctl
