// queue_commands.cc -- reading the spool for `relayctl queue list|show`.
#include "queue_commands.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "output.h"
#include "relay/admin/queue_view.h"
#include "relay/base/ascii.h"
#include "relay/base/clock.h"
#include "relay/smtp/address.h"
#include "relay/spool/recovery.h"

namespace relay::ctl {
namespace {

using nlohmann::json;

using admin::seconds_since;

std::string format_age(std::uint64_t since_unix_ms) {
    std::uint64_t seconds = seconds_since(since_unix_ms);
    char text[32];
    if (seconds < 120) {
        std::snprintf(text, sizeof text, "%llus", static_cast<unsigned long long>(seconds));
    } else if (seconds < 7200) {
        std::snprintf(text, sizeof text, "%llum", static_cast<unsigned long long>(seconds / 60));
    } else if (seconds < 172800) {
        std::snprintf(text, sizeof text, "%lluh", static_cast<unsigned long long>(seconds / 3600));
    } else {
        std::snprintf(text, sizeof text, "%llud", static_cast<unsigned long long>(seconds / 86400));
    }
    return text;
}

// `--resource P/N`: the resource that sent the message (the SMTP username, compared without
// regard to case as AUTH does); an empty filter keeps every message.
bool sent_by(const spool::QueuedMessage& message, const std::string& resource) {
    return resource.empty() || ascii_lower(message.envelope.resource) == ascii_lower(resource);
}

// Keeps a message for `queue list`: both filters hold.
bool listed(const spool::QueuedMessage& message, const QueueArguments& arguments) {
    return sent_by(message, arguments.resource) &&
           admin::has_pending_domain(message, arguments.domain);
}

Result<spool::Recovery> read_queue(const config::Config& config) {
    return spool::recover(config.spool.path + "/segments", false);
}

int list(const config::Config& config, const QueueArguments& arguments) {
    auto queue = read_queue(config);
    if (!queue) {
        std::fprintf(stderr, "relayctl: %s\n", queue.error().message.c_str());
        return 1;
    }
    json messages = json::array();
    for (const spool::RecoveredMessage& recovered : queue->messages) {
        if (listed(recovered.message, arguments)) {
            messages.push_back(admin::queued_message_json(recovered.message, false));
        }
    }
    if (arguments.json) {
        print_json(messages);
        return 0;
    }
    std::printf("%-16s %10s %6s %8s  %-20s  %s\n", "ID", "SIZE", "AGE", "ATTEMPTS", "RESOURCE",
                "SENDER -> RECIPIENTS");
    for (const spool::RecoveredMessage& recovered : queue->messages) {
        const spool::QueuedMessage& message = recovered.message;
        if (!listed(message, arguments)) {
            continue;
        }
        std::string recipients;
        for (const spool::Recipient& recipient : message.recipients) {
            if (recipient.status == spool::RecipientStatus::pending) {
                recipients += (recipients.empty() ? "" : ", ") + recipient.address;
            }
        }
        std::string resource(spool::resource_label(message.envelope));
        std::printf("%-16s %10llu %6s %8u  %-20s  <%s> -> %s\n",
                    spool::format_queue_id(message.id).c_str(),
                    static_cast<unsigned long long>(message.envelope.body_bytes),
                    format_age(message.envelope.received_unix_ms).c_str(), message.attempts,
                    resource.c_str(), message.envelope.reverse_path.c_str(), recipients.c_str());
        if (!message.last_error.empty()) {
            std::printf("%16s   last error: %s\n", "", message.last_error.c_str());
        }
    }
    std::printf("%zu messages\n", messages.size());
    return 0;
}

int show(const config::Config& config, const QueueArguments& arguments) {
    auto id = spool::parse_queue_id(arguments.id);
    if (!id) {
        std::fprintf(stderr, "relayctl: \"%s\" is not a queue id (16 hex digits)\n",
                     arguments.id.c_str());
        return 1;
    }
    auto queue = read_queue(config);
    if (!queue) {
        std::fprintf(stderr, "relayctl: %s\n", queue.error().message.c_str());
        return 1;
    }
    for (const spool::RecoveredMessage& recovered : queue->messages) {
        if (recovered.message.id != *id) {
            continue;
        }
        json details = admin::queued_message_json(recovered.message, true);
        auto bytes = spool::read_message_bytes(config.spool.path + "/segments", recovered.message);
        if (arguments.data) {
            if (!bytes) {
                std::fprintf(stderr, "relayctl: %s\n", bytes.error().message.c_str());
                return 1;
            }
            std::fwrite(bytes.value().data(), 1, bytes.value().size(), stdout);
            return 0;
        }
        if (arguments.json) {
            details["data_intact"] = bytes.ok();
            print_json(details);
            return 0;
        }
        for (auto& [key, value] : details.items()) {
            if (key == "recipients") {
                continue;
            }
            std::string text = value.is_string() ? value.get<std::string>() : value.dump();
            if (key == "resource" && text.empty()) {
                text = "-";  // accepted without AUTH, as in `queue list`
            }
            std::printf("%-13s %s\n", (key + ":").c_str(), text.c_str());
        }
        for (const auto& recipient : details["recipients"]) {
            std::printf("%-13s %s (%s)%s\n",
                        "recipient:", recipient["address"].get<std::string>().c_str(),
                        recipient["status"].get<std::string>().c_str(),
                        recipient["reply"].get<std::string>().empty()
                            ? ""
                            : (": " + recipient["reply"].get<std::string>()).c_str());
        }
        if (bytes) {
            std::printf("\n%s",
                        bytes.value().substr(0, recovered.message.envelope.header_bytes).c_str());
        } else {
            std::printf("data:         DAMAGED (%s)\n", bytes.error().message.c_str());
        }
        return 0;
    }
    std::fprintf(stderr, "relayctl: no message %s in the queue\n", arguments.id.c_str());
    return 1;
}

// Sends one request to the running relayd's control socket and returns its answer.
Result<json> ask_relayd(const config::Config& config, const json& request) {
    std::string path = config.spool.path + "/control.sock";
    sockaddr_un address{};
    if (path.size() >= sizeof address.sun_path) {
        return Error{"control socket path " + path + " is too long"};
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return system_error("cannot create a socket", errno);
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        int error = errno;
        ::close(fd);
        if (error == ENOENT || error == ECONNREFUSED) {
            return Error{"relayd is not running (no control socket at " + path +
                         "); changing the queue needs a running relayd"};
        }
        return system_error("cannot reach relayd at " + path, error);
    }
    std::string line = request.dump() + "\n";
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
        int error = errno;
        ::close(fd);
        return system_error("cannot talk to relayd", error);
    }
    std::string answer;
    char buffer[4096];
    while (answer.find('\n') == std::string::npos) {
        ssize_t received = ::recv(fd, buffer, sizeof buffer, 0);
        if (received <= 0) {
            break;
        }
        answer.append(buffer, static_cast<std::size_t>(received));
    }
    ::close(fd);
    json parsed = json::parse(answer, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        return Error{"relayd gave no answer"};
    }
    if (!parsed.value("ok", false)) {
        return Error{"relayd: " + parsed.value("error", std::string("request refused"))};
    }
    return parsed;
}

int change(const config::Config& config, const std::string& command,
           const QueueArguments& arguments) {
    json request = {{"command", command}};
    if (!arguments.id.empty()) {
        if (!spool::parse_queue_id(arguments.id)) {
            std::fprintf(stderr, "relayctl: \"%s\" is not a queue id (16 hex digits)\n",
                         arguments.id.c_str());
            return 1;
        }
        request["id"] = arguments.id;
    } else if (!arguments.domain.empty() || !arguments.resource.empty()) {
        if (!arguments.domain.empty()) {
            request["domain"] = arguments.domain;
        }
        if (!arguments.resource.empty()) {
            request["resource"] = arguments.resource;
        }
    } else if (arguments.all) {
        request["all"] = true;
    } else {
        std::fprintf(stderr, "relayctl: queue %s needs a queue id%s\n", command.c_str(),
                     command == "retry" ? ", --domain D, --resource P/N or --all"
                                        : ", --domain D or --resource P/N");
        return 2;
    }
    auto answer = ask_relayd(config, request);
    if (!answer) {
        std::fprintf(stderr, "relayctl: %s\n", answer.error().message.c_str());
        return 1;
    }
    std::size_t messages = answer.value().value("messages", std::size_t{0});
    if (arguments.json) {
        std::printf("%s\n", answer.value().dump().c_str());
    } else {
        std::printf("%s: %zu message%s\n", command.c_str(), messages, messages == 1 ? "" : "s");
    }
    if (messages == 0 && !arguments.id.empty()) {
        std::fprintf(stderr, "relayctl: no message %s in the queue\n", arguments.id.c_str());
        return 1;
    }
    return 0;
}

// Per destination domain: messages waiting, the oldest, the last error.
int summary(const config::Config& config, const QueueArguments& arguments) {
    auto queue = read_queue(config);
    if (!queue) {
        std::fprintf(stderr, "relayctl: %s\n", queue.error().message.c_str());
        return 1;
    }
    std::vector<admin::QueueSummaryRow> rows = admin::queue_summary(queue.value());
    if (arguments.json) {
        print_json(admin::queue_summary_json(rows));
        return 0;
    }
    std::printf("%-32s %8s %6s  %s\n", "DESTINATION", "MESSAGES", "OLDEST", "LAST ERROR");
    for (const admin::QueueSummaryRow& row : rows) {
        std::printf("%-32s %8zu %6s  %s\n", row.destination.c_str(), row.messages,
                    format_age(row.oldest_unix_ms).c_str(), row.last_error.c_str());
    }
    return 0;
}

}  // namespace

CLI::App* add_queue_commands(CLI::App& app, QueueArguments& arguments) {
    CLI::App* queue = app.add_subcommand("queue", "inspect and manage the queue");
    queue->require_subcommand(1);
    CLI::App* list_command = queue->add_subcommand("list", "list queued messages");
    list_command->add_option("--domain", arguments.domain, "only messages to this domain");
    list_command->add_option("--resource", arguments.resource,
                             "only messages this resource (PROJECT/NAME) sent");
    list_command->add_flag("--json", arguments.json, "machine-readable output");
    CLI::App* show_command = queue->add_subcommand("show", "show one message");
    show_command->add_option("id", arguments.id, "queue id")->required();
    show_command->add_flag("--json", arguments.json, "machine-readable output");
    show_command->add_flag("--data", arguments.data, "print the stored message bytes only");
    CLI::App* retry = queue->add_subcommand("retry", "deliver now instead of at the next retry");
    retry->add_option("id", arguments.id, "queue id");
    retry->add_option("--domain", arguments.domain, "messages to this domain");
    retry->add_flag("--all", arguments.all, "every message");
    CLI::App* remove = queue->add_subcommand("delete", "drop recipients without notification");
    remove->add_option("id", arguments.id, "queue id");
    remove->add_option("--domain", arguments.domain, "recipients in this domain");
    CLI::App* bounce = queue->add_subcommand("bounce", "fail recipients and notify the sender");
    bounce->add_option("id", arguments.id, "queue id");
    bounce->add_option("--domain", arguments.domain, "recipients in this domain");
    for (CLI::App* command : {retry, remove, bounce}) {
        command->add_option("--resource", arguments.resource,
                            "messages this resource (PROJECT/NAME) sent");
        command->add_flag("--json", arguments.json, "machine-readable output");
    }
    CLI::App* summary_command =
        queue->add_subcommand("summary", "messages per destination, oldest, last error");
    summary_command->add_flag("--json", arguments.json, "machine-readable output");
    return queue;
}

int run_queue_command(const config::Config& config, const CLI::App& queue,
                      const QueueArguments& arguments) {
    if (queue.got_subcommand("list")) {
        return list(config, arguments);
    }
    if (queue.got_subcommand("show")) {
        return show(config, arguments);
    }
    if (queue.got_subcommand("summary")) {
        return summary(config, arguments);
    }
    for (const char* command : {"retry", "delete", "bounce"}) {
        if (queue.got_subcommand(command)) {
            return change(config, command, arguments);
        }
    }
    return 2;
}

}  // namespace relay::ctl
