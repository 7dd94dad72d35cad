// options.h -- loadgen's command line: what to send, where, how hard, and what to record.
//
// Untrusted bytes: none (the operator's own command line). Thread: main, before the workers start;
// the parsed Options are read-only afterwards and shared by every worker.
// Must never: accept a limit without a bound (sessions, recipients, size all have a maximum).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace loadgen {

struct Options {
    std::string server;  // HOST:PORT as given
    sockaddr_storage server_address{};
    socklen_t server_address_size = 0;

    std::uint32_t sessions = 20;
    std::uint32_t threads = 1;
    std::uint64_t messages = 10000;  // total; ignored when duration_s > 0
    double duration_s = 0;
    std::uint64_t size_bytes = 10240;
    std::uint32_t messages_per_connection = 0;  // 0: reuse without limit
    bool pipelining = false;
    bool bdat = false;
    bool smtputf8 = false;
    bool dot_lines = false;

    // Submission (RFC 6409): STARTTLS (RFC 3207) after EHLO, then AUTH PLAIN (RFC 4616) with an
    // initial response (RFC 4954), before the first MAIL of every connection.
    bool starttls = false;
    bool tls_verify = false;  // check the server's certificate against the system CA store
    std::string tls_ca_file;  // trust this PEM file instead (implies --tls-verify)
    std::string tls_name;     // SNI and the name checked; empty: the HOST of --server
    std::string auth_user;
    std::string auth_password;

    std::string from = "loadgen@example.com";
    std::vector<std::string> to;
    std::uint32_t recipients = 1;
    std::string helo = "loadgen.invalid";

    std::uint64_t seed = 1;
    std::string run_id;  // empty: derived from the clock and the process id
    std::string date;    // empty: the run's start time

    std::string record_path;
    std::string dump_dir;
    std::uint32_t timeout_ms = 30000;
    std::uint32_t give_up_ms = 3000;
    bool json = false;
    bool quiet = false;
};

// Upper bounds, so that a typo cannot ask for an unbounded amount of memory or descriptors.
inline constexpr std::uint32_t sessions_max = 10000;
inline constexpr std::uint32_t threads_max = 64;
inline constexpr std::uint32_t recipients_max = 100;
inline constexpr std::uint64_t size_bytes_max = 256ULL << 20;
inline constexpr std::size_t address_bytes_max = 254;
inline constexpr std::size_t auth_bytes_max = 255;

// Either the options, or the exit status to return at once (0 after --help, 2 on a usage error;
// the message has been printed).
using ParseOutcome = std::variant<Options, int>;

ParseOutcome parse_options(int argc, char** argv);

}  // namespace loadgen
