// queue_commands.cc -- reading the spool for `relayctl queue list|show`.
#include "queue_commands.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "relay/spool/recovery.h"

namespace relay::ctl {
namespace {

using nlohmann::json;

std::uint64_t unix_ms_now() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::string format_time(std::uint64_t unix_ms) {
    if (unix_ms == 0) {
        return "-";
    }
    std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

std::string format_age(std::uint64_t since_unix_ms) {
    std::uint64_t now = unix_ms_now();
    std::uint64_t seconds = now > since_unix_ms ? (now - since_unix_ms) / 1000 : 0;
    char text[32];
    if (seconds < 120) {
        std::snprintf(text, sizeof text, "%llus", static_cast<unsigned long long>(seconds));
    } else if (seconds < 7200) {
        std::snprintf(text, sizeof text, "%llum", static_cast<unsigned long long>(seconds / 60));
    } else if (seconds < 172800) {
        std::snprintf(text, sizeof text, "%lluh", static_cast<unsigned long long>(seconds / 3600));
    } else {
        std::snprintf(text, sizeof text, "%llud",
                      static_cast<unsigned long long>(seconds / 86400));
    }
    return text;
}

std::string domain_of(const std::string& address) {
    std::size_t at = address.rfind('@');
    std::string domain = at == std::string::npos ? std::string() : address.substr(at + 1);
    for (char& c : domain) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return domain;
}

bool has_pending_domain(const spool::QueuedMessage& message, const std::string& domain) {
    if (domain.empty()) {
        return true;
    }
    for (const spool::Recipient& recipient : message.recipients) {
        if (recipient.status == spool::RecipientStatus::pending &&
            domain_of(recipient.address) == domain_of("@" + domain)) {
            return true;
        }
    }
    return false;
}

json message_json(const spool::QueuedMessage& message, bool detailed) {
    const spool::Envelope& envelope = message.envelope;
    json result = {
        {"id", spool::format_queue_id(message.id)},
        {"size", envelope.body_bytes},
        {"from", envelope.reverse_path},
        {"received", format_time(envelope.received_unix_ms)},
        {"age_s", (unix_ms_now() - std::min(unix_ms_now(), envelope.received_unix_ms)) / 1000},
        {"attempts", message.attempts},
        {"next_attempt", format_time(message.next_attempt_unix_ms)},
        {"last_error", message.last_error},
    };
    json recipients = json::array();
    for (const spool::Recipient& recipient : message.recipients) {
        json entry = {{"address", recipient.address},
                      {"status", spool::recipient_status_name(recipient.status)}};
        if (detailed) {
            entry["remote"] = recipient.remote;
            entry["reply"] = recipient.reply;
        }
        recipients.push_back(entry);
    }
    result["recipients"] = recipients;
    if (detailed) {
        result["client_ip"] = envelope.client_ip;
        result["client_helo"] = envelope.client_helo;
        result["protocol"] = envelope.protocol;
        result["listener"] = envelope.listener;
        result["smtputf8"] = envelope.smtputf8;
        result["eight_bit"] = envelope.eight_bit;
        result["origin"] = envelope.origin == spool::Origin::dsn ? "dsn" : "client";
        result["header_bytes"] = envelope.header_bytes;
    }
    return result;
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
        if (has_pending_domain(recovered.message, arguments.domain)) {
            messages.push_back(message_json(recovered.message, false));
        }
    }
    if (arguments.json) {
        std::printf("%s\n", messages.dump(2).c_str());
        return 0;
    }
    std::printf("%-16s %10s %6s %8s  %s\n", "ID", "SIZE", "AGE", "ATTEMPTS", "SENDER -> RECIPIENTS");
    for (const spool::RecoveredMessage& recovered : queue->messages) {
        const spool::QueuedMessage& message = recovered.message;
        if (!has_pending_domain(message, arguments.domain)) {
            continue;
        }
        std::string recipients;
        for (const spool::Recipient& recipient : message.recipients) {
            if (recipient.status == spool::RecipientStatus::pending) {
                recipients += (recipients.empty() ? "" : ", ") + recipient.address;
            }
        }
        std::printf("%-16s %10llu %6s %8u  <%s> -> %s\n",
                    spool::format_queue_id(message.id).c_str(),
                    static_cast<unsigned long long>(message.envelope.body_bytes),
                    format_age(message.envelope.received_unix_ms).c_str(), message.attempts,
                    message.envelope.reverse_path.c_str(), recipients.c_str());
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
        json details = message_json(recovered.message, true);
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
            std::printf("%s\n", details.dump(2).c_str());
            return 0;
        }
        for (auto& [key, value] : details.items()) {
            if (key != "recipients") {
                std::printf("%-13s %s\n", (key + ":").c_str(),
                            value.is_string() ? value.get<std::string>().c_str()
                                              : value.dump().c_str());
            }
        }
        for (const auto& recipient : details["recipients"]) {
            std::printf("%-13s %s (%s)%s\n", "recipient:",
                        recipient["address"].get<std::string>().c_str(),
                        recipient["status"].get<std::string>().c_str(),
                        recipient["reply"].get<std::string>().empty()
                            ? ""
                            : (": " + recipient["reply"].get<std::string>()).c_str());
        }
        if (bytes) {
            std::printf("\n%s", bytes.value().substr(0, recovered.message.envelope.header_bytes).c_str());
        } else {
            std::printf("data:         DAMAGED (%s)\n", bytes.error().message.c_str());
        }
        return 0;
    }
    std::fprintf(stderr, "relayctl: no message %s in the queue\n", arguments.id.c_str());
    return 1;
}

}  // namespace

CLI::App* add_queue_commands(CLI::App& app, QueueArguments& arguments) {
    CLI::App* queue = app.add_subcommand("queue", "inspect and manage the queue");
    queue->require_subcommand(1);
    CLI::App* list_command = queue->add_subcommand("list", "list queued messages");
    list_command->add_option("--domain", arguments.domain, "only messages to this domain");
    list_command->add_flag("--json", arguments.json, "machine-readable output");
    CLI::App* show_command = queue->add_subcommand("show", "show one message");
    show_command->add_option("id", arguments.id, "queue id")->required();
    show_command->add_flag("--json", arguments.json, "machine-readable output");
    show_command->add_flag("--data", arguments.data, "print the stored message bytes only");
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
    return 2;
}

}  // namespace relay::ctl
