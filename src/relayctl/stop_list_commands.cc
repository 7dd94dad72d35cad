// stop_list_commands.cc -- the stop lists from the command line.
#include "stop_list_commands.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "output.h"
#include "relay/base/clock.h"
#include "relay/store/open_tenant_store.h"
#include "relay/store/tenant_names.h"
#include "stop_list_csv.h"

namespace relay::ctl {
namespace {

using nlohmann::json;

// Bad rows named one by one on import; past this they are only counted, so that a file of
// garbage does not flood the terminal.
constexpr std::size_t bad_rows_reported_max = 1000;

struct StopCommand {
    store::TenantStore& store;
    const StopListArguments& arguments;
    std::string scope;  // empty: global
    std::string verb;
    std::uint64_t now_s;

    store::StopListStore& lists() const { return store.stop_lists(); }
    std::string list_name() const {
        return scope.empty() ? "the global list" : "the list of " + scope;
    }
};

std::string time_text(std::uint64_t unix_s) {
    return unix_s == 0 ? "never" : iso8601_time(unix_s * 1000);
}

json entry_json(const store::StopEntry& entry, std::uint64_t now_s) {
    return {{"address", entry.address.text()},
            {"scope", entry.scope.empty() ? "global" : entry.scope},
            {"reason", store::stop_reason_name(entry.reason)},
            {"added", iso8601_time(entry.added_s * 1000)},
            {"expires", entry.expires_s == 0 ? json(nullptr) : json(time_text(entry.expires_s))},
            {"expired", entry.expired(now_s)}};
}

int stop_add(const StopCommand& command) {
    const StopListArguments& arguments = command.arguments;
    auto address = store::parse_stop_address(arguments.address);
    if (!address) {
        return fail(address.error().message);
    }
    store::StopEntry entry{command.scope, std::move(address.value()),
                           *store::parse_stop_reason(arguments.reason), command.now_s, 0};
    if (!arguments.expires.empty()) {
        auto duration_s = parse_duration_s(arguments.expires);
        if (!duration_s) {
            return usage("--expires: \"" + arguments.expires +
                         "\" is not a duration (such as 90s, 45m, 12h, 30d, 2w)");
        }
        entry.expires_s = command.now_s + *duration_s;
    }
    if (Status added = command.lists().add_stop(entry); !added) {
        return fail(added.error().message);
    }
    if (arguments.json) {
        print_json(entry_json(entry, command.now_s));
    } else {
        std::printf("%s added to %s (%s, expires %s)\n", entry.address.text().c_str(),
                    command.list_name().c_str(),
                    std::string(store::stop_reason_name(entry.reason)).c_str(),
                    time_text(entry.expires_s).c_str());
    }
    return 0;
}

int stop_remove(const StopCommand& command) {
    auto address = store::parse_stop_address(command.arguments.address);
    if (!address) {
        return fail(address.error().message);
    }
    auto removed = command.lists().remove_stop(command.scope, address.value());
    if (!removed) {
        return fail(removed.error().message);
    }
    if (!removed.value()) {
        return fail(address->text() + " is not on " + command.list_name());
    }
    if (command.arguments.json) {
        print_json(json{{"removed", address->text()},
                        {"scope", command.scope.empty() ? "global" : command.scope}});
    } else {
        std::printf("%s removed from %s\n", address->text().c_str(), command.list_name().c_str());
    }
    return 0;
}

int stop_list(const StopCommand& command) {
    json out = json::array();
    if (!command.arguments.json) {
        std::printf("%-48s %-12s %-21s %s\n", "ADDRESS", "REASON", "ADDED", "EXPIRES");
    }
    Status read = command.lists().for_each_stop(command.scope, [&](const store::StopEntry& entry) {
        if (command.arguments.json) {
            out.push_back(entry_json(entry, command.now_s));
            return;
        }
        std::string expires = time_text(entry.expires_s);
        if (entry.expired(command.now_s)) {
            expires += " (expired)";
        }
        std::printf("%-48s %-12s %-21s %s\n", entry.address.text().c_str(),
                    std::string(store::stop_reason_name(entry.reason)).c_str(),
                    iso8601_time(entry.added_s * 1000).c_str(), expires.c_str());
    });
    if (!read) {
        return fail(read.error().message);
    }
    if (command.arguments.json) {
        print_json(out);
    }
    return 0;
}

int stop_check(const StopCommand& command) {
    auto address = store::parse_stop_address(command.arguments.address);
    if (!address || address->whole_domain()) {
        return fail(address ? "check takes an address, not a whole domain"
                            : address.error().message);
    }
    std::string recipient = address->text();
    auto found = command.lists().find_stop(command.scope, recipient, command.now_s);
    if (!found) {
        return fail(found.error().message);
    }
    std::string checked = command.scope.empty()
                              ? "the global list"
                              : "the global list and the list of " + command.scope;
    if (command.arguments.json) {
        json out{{"address", recipient}, {"listed", found.value().has_value()}};
        if (found.value()) {
            out["entry"] = entry_json(*found.value(), command.now_s);
        }
        print_json(out);
    } else if (!found.value()) {
        std::printf("%s is not on %s\n", recipient.c_str(), checked.c_str());
    } else {
        const store::StopEntry& entry = *found.value();
        std::printf(
            "%s is listed: %s on %s (%s, added %s, expires %s)\n", recipient.c_str(),
            entry.address.text().c_str(),
            entry.scope.empty() ? "the global list" : ("the list of " + entry.scope).c_str(),
            std::string(store::stop_reason_name(entry.reason)).c_str(),
            iso8601_time(entry.added_s * 1000).c_str(), time_text(entry.expires_s).c_str());
    }
    return 0;
}

// Reads one line without its line ending; false at the end of the file.
bool read_line(std::FILE* file, std::string& line) {
    line.clear();
    int c = 0;
    while ((c = std::fgetc(file)) != EOF && c != '\n') {
        line.push_back(static_cast<char>(c));
    }
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    return c != EOF || !line.empty();
}

int stop_import(const StopCommand& command) {
    const std::string& path = command.arguments.file;
    std::FILE* file = std::fopen(path.c_str(), "r");
    if (file == nullptr) {
        return fail("cannot read " + path + ": " + std::strerror(errno));
    }
    std::string line;
    if (!read_line(file, line) || !is_stop_csv_header(line)) {
        std::fclose(file);
        return fail(path + ":1: expected the header " + std::string(stop_csv_header));
    }
    std::vector<store::StopEntry> batch;
    batch.reserve(stop_import_batch_rows);
    std::uint64_t line_number = 1;
    std::uint64_t imported = 0;
    std::uint64_t bad = 0;
    Status written;
    while (written && read_line(file, line)) {
        ++line_number;
        if (line.empty()) {
            continue;
        }
        auto entry = parse_stop_csv_row(line, command.scope, command.now_s);
        if (!entry) {
            if (++bad <= bad_rows_reported_max) {
                std::fprintf(stderr, "relayctl: %s:%llu: %s; skipped\n", path.c_str(),
                             static_cast<unsigned long long>(line_number),
                             entry.error().message.c_str());
            }
            continue;
        }
        batch.push_back(std::move(entry.value()));
        if (batch.size() == stop_import_batch_rows) {
            written = command.lists().add_stops(batch);
            imported += written ? batch.size() : 0;
            batch.clear();
        }
    }
    bool read_failed = std::ferror(file) != 0;
    std::fclose(file);
    if (written && !batch.empty()) {
        written = command.lists().add_stops(batch);
        imported += written ? batch.size() : 0;
    }
    if (!written) {
        return fail(written.error().message + " (at line " + std::to_string(line_number) + "; " +
                    std::to_string(imported) + " entries imported before it)");
    }
    if (read_failed) {
        return fail("cannot read " + path + " after line " + std::to_string(line_number));
    }
    std::printf("%llu entries imported into %s from %s; %llu bad rows skipped\n",
                static_cast<unsigned long long>(imported), command.list_name().c_str(),
                path.c_str(), static_cast<unsigned long long>(bad));
    return bad == 0 ? 0 : 1;
}

int stop_export(const StopCommand& command) {
    const std::string& path = command.arguments.file;
    bool to_stdout = path == "-";
    std::FILE* file = to_stdout ? stdout : std::fopen(path.c_str(), "w");
    if (file == nullptr) {
        return fail("cannot write " + path + ": " + std::strerror(errno));
    }
    std::fprintf(file, "%s\n", std::string(stop_csv_header).c_str());
    std::uint64_t exported = 0;
    Status read = command.lists().for_each_stop(command.scope, [&](const store::StopEntry& entry) {
        std::string row = format_stop_csv_row(entry);
        std::fwrite(row.data(), 1, row.size(), file);
        ++exported;
    });
    bool write_failed = std::ferror(file) != 0;
    write_failed = (to_stdout ? std::fflush(file) : std::fclose(file)) != 0 || write_failed;
    if (!read) {
        return fail(read.error().message);
    }
    if (write_failed) {
        return fail("cannot write " + path + ": " + std::strerror(errno));
    }
    if (!to_stdout) {
        std::printf("%llu entries of %s exported to %s\n",
                    static_cast<unsigned long long>(exported), command.list_name().c_str(),
                    path.c_str());
    }
    return 0;
}

CLI::App* add_verb(CLI::App& noun, const char* name, const char* description,
                   StopListArguments& arguments, bool scope_required) {
    CLI::App* verb = noun.add_subcommand(name, description);
    verb->add_flag("--json", arguments.json, "machine-readable output");
    CLI::Option* resource =
        verb->add_option("--resource", arguments.resource,
                         scope_required ? "the list of this resource (PROJECT/NAME)"
                                        : "check the list of this resource (PROJECT/NAME) too");
    if (scope_required) {
        CLI::Option* global = verb->add_flag("--global", arguments.global, "the global list");
        global->excludes(resource);
    }
    return verb;
}

}  // namespace

CLI::App* add_stop_list_commands(CLI::App& app, StopListArguments& arguments) {
    CLI::App* noun = app.add_subcommand(
        "stoplist", "recipients mail is not sent to: the global list and each resource's");
    noun->require_subcommand(1);
    CLI::App* verb = add_verb(*noun, "add", "add or replace an entry", arguments, true);
    verb->add_option("address", arguments.address, "local@domain, or @domain for all of it")
        ->required();
    verb->add_option("--reason", arguments.reason, "hard_bounce, complaint, unsubscribe, manual")
        ->check(CLI::IsMember({"hard_bounce", "complaint", "unsubscribe", "manual"}));
    verb->add_option("--expires", arguments.expires, "a duration: 90s, 45m, 12h, 30d, 2w");
    verb = add_verb(*noun, "remove", "remove an entry", arguments, true);
    verb->add_option("address", arguments.address, "local@domain or @domain")->required();
    add_verb(*noun, "list", "list the entries of a list, expired ones marked", arguments, true);
    verb =
        add_verb(*noun, "check", "whether mail to an address would be stopped, and by which entry",
                 arguments, false);
    verb->add_option("address", arguments.address, "local@domain")->required();
    verb = add_verb(*noun, "import", "add entries from a CSV file", arguments, true);
    verb->add_option("file", arguments.file, "address,reason,added,expires")->required();
    verb = add_verb(*noun, "export", "write a list as CSV", arguments, true);
    verb->add_option("file", arguments.file, "the file to write; - for standard output")
        ->required();
    return noun;
}

std::optional<int> run_stop_list_command(const config::Config& config, const CLI::App& noun,
                                         const StopListArguments& arguments) {
    if (!noun.parsed()) {
        return std::nullopt;
    }
    const CLI::App* verb = nullptr;
    for (const CLI::App* candidate : noun.get_subcommands()) {
        verb = candidate->parsed() ? candidate : verb;
    }
    if (verb == nullptr) {
        return 2;
    }
    std::string name = verb->get_name();
    if (name != "check" && arguments.resource.empty() && !arguments.global) {
        return usage("stoplist " + name + ": give --resource PROJECT/NAME or --global");
    }
    auto store = store::open_tenant_store(config);
    if (!store) {
        return fail(store.error().message);
    }
    if (!arguments.resource.empty()) {
        auto parsed = store::parse_username(arguments.resource);
        if (!parsed) {
            return fail(parsed.error().message);
        }
        auto data = store.value()->load();
        if (!data) {
            return fail(data.error().message);
        }
        bool exists = false;
        for (const store::ResourceRecord& resource : data->resources) {
            exists = exists || resource.username() == arguments.resource;
        }
        if (!exists) {
            return fail("no resource " + arguments.resource);
        }
    }
    StopCommand command{*store.value(), arguments, arguments.resource, name, unix_ms_now() / 1000};
    if (name == "add") {
        return stop_add(command);
    }
    if (name == "remove") {
        return stop_remove(command);
    }
    if (name == "list") {
        return stop_list(command);
    }
    if (name == "check") {
        return stop_check(command);
    }
    return name == "import" ? stop_import(command) : stop_export(command);
}

}  // namespace relay::ctl
