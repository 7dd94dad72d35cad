// options.cc -- parses and checks loadgen's command line (CLI11), resolves --server.
//
// Untrusted bytes: none. Thread: main, once at start-up. Exits are returned as values; CLI11's
// exceptions stay inside this file.
#include "options.h"

#include <netdb.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "relay/base/result.h"

namespace loadgen {
namespace {

// Splits "HOST:PORT", "[V6]:PORT" into host and port; returns false when either is missing.
bool split_server(const std::string& text, std::string& host, std::string& port) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
        return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.back() != ']' || host.size() < 3) {
            return false;
        }
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
        return false;  // an IPv6 literal needs brackets
    }
    return true;
}

relay::Status resolve_server(Options& options) {
    std::string host;
    std::string port;
    if (!split_server(options.server, host, port)) {
        return relay::Error{"--server must be HOST:PORT or [IPV6]:PORT"};
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    int status = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (status != 0 || found == nullptr) {
        return relay::Error{"--server " + options.server + ": " + gai_strerror(status)};
    }
    std::memcpy(&options.server_address, found->ai_addr, found->ai_addrlen);
    options.server_address_size = found->ai_addrlen;
    freeaddrinfo(found);
    return {};
}

bool address_is_plain(std::string_view address) {
    if (address.size() > address_bytes_max) {
        return false;
    }
    for (char c : address) {
        if (static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>') {
            return false;
        }
    }
    return true;
}

// Checks the relations between options that CLI11 cannot express.
relay::Status check_options(const Options& options) {
    if (options.recipients > options.to.size()) {
        return relay::Error{"--recipients must not exceed the number of --to addresses"};
    }
    if (!address_is_plain(options.from)) {
        return relay::Error{"--from must be an address without spaces or angle brackets"};
    }
    for (const std::string& address : options.to) {
        if (!address_is_plain(address)) {
            return relay::Error{"--to " + address +
                                ": must be an address without spaces or angle brackets"};
        }
    }
    if (options.helo.empty() || !address_is_plain(options.helo)) {
        return relay::Error{"--helo must be a name without spaces"};
    }
    for (char c : options.date) {
        if (static_cast<unsigned char>(c) < ' ' || c == '\x7f') {
            return relay::Error{"--date must be one line of text"};
        }
    }
    if ((options.tls_verify || !options.tls_ca_file.empty() || !options.tls_name.empty()) &&
        !options.starttls) {
        return relay::Error{"--tls-verify, --tls-ca-file and --tls-name need --starttls"};
    }
    for (const std::string* credential : {&options.auth_user, &options.auth_password}) {
        // RFC 4616: at most 255 octets each, and NUL separates them.
        if (credential->size() > auth_bytes_max || credential->find('\0') != std::string::npos) {
            return relay::Error{"--auth-user and --auth-password: at most 255 bytes, no NUL"};
        }
    }
    if (options.duration_s <= 0 && options.messages == 0) {
        return relay::Error{"--messages must be at least 1"};
    }
    return {};
}

void add_options(CLI::App& app, Options& options) {
    app.add_option("--server", options.server, "SMTP server, HOST:PORT or [IPV6]:PORT")->required();
    app.add_option("--sessions", options.sessions, "concurrent connections")
        ->check(CLI::Range(1U, sessions_max));
    app.add_option("--threads", options.threads, "worker threads (sessions are split)")
        ->check(CLI::Range(1U, threads_max));
    auto* messages = app.add_option("--messages", options.messages, "messages to send in all");
    app.add_option("--duration", options.duration_s, "send for this many seconds instead")
        ->check(CLI::Range(0.001, 86400.0))
        ->excludes(messages);
    app.add_option("--size", options.size_bytes, "bytes per message, headers included")
        ->check(CLI::Range(std::uint64_t{512}, size_bytes_max));
    app.add_option("--messages-per-connection", options.messages_per_connection,
                   "messages per connection (0: no limit, 1: a new connection per message)");
    app.add_flag("--pipelining", options.pipelining, "pipeline commands (RFC 2920) if offered");
    app.add_flag("--bdat", options.bdat, "send with BDAT LAST (RFC 3030) if CHUNKING is offered");
    app.add_flag("--starttls", options.starttls, "STARTTLS after EHLO, then EHLO again");
    app.add_flag("--tls-verify", options.tls_verify,
                 "verify the server certificate (system CA store) and its name");
    app.add_option("--tls-ca-file", options.tls_ca_file,
                   "PEM file of trusted CAs for --tls-verify");
    app.add_option("--tls-name", options.tls_name,
                   "server name sent as SNI and checked (default: the --server host)");
    auto* user = app.add_option("--auth-user", options.auth_user, "AUTH PLAIN user name");
    auto* password =
        app.add_option("--auth-password", options.auth_password, "AUTH PLAIN password");
    user->needs(password);
    password->needs(user);
    app.add_option("--from", options.from, "envelope and From: sender");
    app.add_option("--to", options.to, "recipient address (repeatable)");
    app.add_option("--recipients", options.recipients, "recipients per message, round-robin")
        ->check(CLI::Range(1U, recipients_max));
    app.add_option("--helo", options.helo, "name sent with EHLO/HELO");
    app.add_flag("--smtputf8", options.smtputf8, "UTF-8 Subject, SMTPUTF8 and BODY=8BITMIME");
    app.add_flag("--dot-lines", options.dot_lines, "bodies include lines starting with '.'");
    app.add_option("--seed", options.seed, "seed of the message contents");
    app.add_option("--run-id", options.run_id, "run id in Message-ID (default: from the clock)")
        ->check([](const std::string& value) {
            return address_is_plain(value) && value.find('@') == std::string::npos
                       ? std::string()
                       : std::string("a token without spaces, '@' or angle brackets");
        });
    app.add_option("--date", options.date, "Date: header value (default: the start time)");
    app.add_option("--record", options.record_path, "file of accepted messages (queue id...)");
    app.add_option("--dump-dir", options.dump_dir, "write each accepted message here");
    app.add_option("--timeout-ms", options.timeout_ms, "wait this long for a connect or reply")
        ->check(CLI::Range(10U, 3600000U));
    app.add_option("--give-up-ms", options.give_up_ms,
                   "stop when the server refuses connections for this long")
        ->check(CLI::Range(0U, 3600000U));
    app.add_flag("--json", options.json, "print the summary as JSON");
    app.add_flag("--quiet", options.quiet, "print no progress and no text summary");
}

}  // namespace

ParseOutcome parse_options(int argc, char** argv) {
    Options options;
    CLI::App app{"loadgen: drives an SMTP server with concurrent sessions and measures it"};
    add_options(app, options);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error) == 0 ? 0 : 2;
    }
    if (options.to.empty()) {
        options.to.push_back("sink@example.net");
    }
    relay::Status status = check_options(options);
    if (status.ok()) {
        status = resolve_server(options);
    }
    if (!status.ok()) {
        std::fprintf(stderr, "loadgen: %s\n", status.error().message.c_str());
        return 2;
    }
    return options;
}

}  // namespace loadgen
