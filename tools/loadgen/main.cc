// main.cc -- loadgen: drives an SMTP server with N concurrent sessions and measures it.
//
// Parses the options, builds the message pool, starts the workers (one io_uring each), prints
// progress while they run and the summary when they are done. Exit status: 0 when every message
// was accepted and nothing failed, 1 otherwise, 2 on a usage error. SIGINT/SIGTERM stop starting
// messages (a second one closes every connection at once); the summary and the records are
// written either way.
//
// Untrusted bytes: none here. Thread: main. Must never: exit without flushing the record file.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "message.h"
#include "options.h"
#include "relay/tls/context.h"
#include "session.h"
#include "stats.h"
#include "worker.h"

namespace loadgen {
namespace {

std::atomic<int> signals_received{0};
std::atomic<Shared*> signal_target{nullptr};

extern "C" void on_signal(int) {
    int count = signals_received.fetch_add(1) + 1;
    Shared* target = signal_target.load();
    if (target != nullptr) {
        target->stop.store(true);
        if (count >= 2) {
            target->abort.store(true);
        }
    }
}

void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

void raise_descriptor_limit(std::uint32_t sessions) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    rlim_t wanted = static_cast<rlim_t>(sessions) * 2 + 64;
    if (limit.rlim_cur < wanted) {
        limit.rlim_cur = limit.rlim_max < wanted ? limit.rlim_max : wanted;
        (void)setrlimit(RLIMIT_NOFILE, &limit);
    }
}

std::string default_run_id() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    std::uint64_t mixed = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ULL +
                          static_cast<std::uint64_t>(now.tv_nsec);
    return fmt::format("{:x}{:x}", mixed, static_cast<unsigned>(getpid()));
}

std::string current_date() {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", days[utc.tm_wday], utc.tm_mday,
                       months[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

MessageSettings message_settings(const Options& options) {
    MessageSettings settings;
    settings.size_bytes = options.size_bytes;
    settings.seed = options.seed;
    settings.dot_lines = options.dot_lines;
    settings.smtputf8 = options.smtputf8;
    settings.from = options.from;
    settings.to = options.to;
    settings.recipients = options.recipients;
    settings.run_id = options.run_id.empty() ? default_run_id() : options.run_id;
    settings.date = options.date.empty() ? current_date() : options.date;
    settings.index_max = options.duration_s > 0 ? UINT64_MAX : options.messages - 1;
    return settings;
}

// Opens --record and creates --dump-dir. Returns the record descriptor (-1 if none) or -2.
int open_outputs(const Options& options) {
    if (!options.dump_dir.empty() && ::mkdir(options.dump_dir.c_str(), 0755) != 0 &&
        errno != EEXIST) {
        std::fprintf(stderr, "loadgen: --dump-dir %s: %s\n", options.dump_dir.c_str(),
                     std::strerror(errno));
        return -2;
    }
    if (options.record_path.empty()) {
        return -1;
    }
    int fd = ::open(options.record_path.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        std::fprintf(stderr, "loadgen: --record %s: %s\n", options.record_path.c_str(),
                     std::strerror(errno));
        return -2;
    }
    return fd;
}

// --starttls: no certificate check unless asked, since benchmarks run against self-signed ones.
relay::Result<relay::tls::Context> client_context(const Options& options) {
    relay::tls::ClientConfig config;
    bool verify = options.tls_verify || !options.tls_ca_file.empty();
    config.verify = verify ? relay::tls::Verify::required : relay::tls::Verify::none;
    config.ca_file = options.tls_ca_file;
    // Room for a whole message in one go: each send carries what one command group needs.
    config.limits.output_bytes_max = 256 * 1024;
    return relay::tls::Context::client(config);
}

// The HOST of HOST:PORT or [IPV6]:PORT: the name sent as SNI and checked by --tls-verify.
std::string server_host(const std::string& server) {
    if (!server.empty() && server.front() == '[') {
        return server.substr(1, server.find(']') - 1);
    }
    return server.substr(0, server.rfind(':'));
}

struct WorkerRun {
    std::unique_ptr<WorkerContext> context;
    relay::Status status;
    std::thread thread;
};

void wait_for_workers(std::vector<WorkerRun>& runs, std::atomic<std::uint32_t>& done, bool progress,
                      std::int64_t start_ns) {
    std::int64_t next_report_ns = start_ns + 1'000'000'000;
    while (done.load() < runs.size()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::int64_t now_ns = monotonic_ns();
        if (!progress || now_ns < next_report_ns) {
            continue;
        }
        next_report_ns += 1'000'000'000;
        std::uint64_t accepted = 0;
        for (const WorkerRun& run : runs) {
            accepted += run.context->accepted_published.load(std::memory_order_relaxed);
        }
        double elapsed_s = static_cast<double>(now_ns - start_ns) / 1e9;
        std::fprintf(stderr, "loadgen: %.0f s, %llu accepted, %.0f messages/s\n", elapsed_s,
                     static_cast<unsigned long long>(accepted),
                     static_cast<double>(accepted) / elapsed_s);
    }
    for (WorkerRun& run : runs) {
        run.thread.join();
    }
}

int exit_status(const Options& options, const Stats& stats, bool stopped) {
    bool complete =
        options.duration_s > 0 ? stats.attempted > 0 : stats.attempted == options.messages;
    bool clean = stats.lost == 0 && stats.connect_errors == 0 && stats.dropped == 0 &&
                 stats.tls_failures == 0 && stats.auth_refused == 0 && stats.timeouts == 0 &&
                 stats.protocol_errors == 0 && stats.greetings_refused == 0 &&
                 stats.record_errors == 0;
    return complete && clean && !stopped && stats.accepted == stats.attempted ? 0 : 1;
}

int run(const Options& options) {
    raise_descriptor_limit(options.sessions);
    MessageSettings settings = message_settings(options);
    relay::Status size_fits = MessageFactory::check(settings);
    if (!size_fits.ok()) {
        std::fprintf(stderr, "loadgen: %s\n", size_fits.error().message.c_str());
        return 2;
    }
    const MessageFactory factory(std::move(settings));
    int record_fd = open_outputs(options);
    if (record_fd == -2) {
        return 1;
    }
    std::optional<relay::tls::Context> tls_context;
    if (options.starttls) {
        relay::Result<relay::tls::Context> made = client_context(options);
        if (!made) {
            std::fprintf(stderr, "loadgen: %s\n", made.error().message.c_str());
            return 1;
        }
        tls_context.emplace(std::move(*made));
    }
    Shared shared(options, factory);
    if (tls_context) {
        shared.tls_context = &*tls_context;
        shared.tls_host_name =
            options.tls_name.empty() ? server_host(options.server) : options.tls_name;
    }
    signal_target.store(&shared);
    install_signal_handlers();

    const std::int64_t start_ns = monotonic_ns();
    if (options.duration_s > 0) {
        shared.end_ns = start_ns + static_cast<std::int64_t>(options.duration_s * 1e9);
    }
    std::vector<WorkerRun> runs(options.threads);
    std::atomic<std::uint32_t> done{0};
    for (std::uint32_t i = 0; i < options.threads; ++i) {
        std::uint32_t count =
            options.sessions / options.threads + (i < options.sessions % options.threads ? 1 : 0);
        runs[i].context = std::make_unique<WorkerContext>(record_fd, options.dump_dir);
        runs[i].thread = std::thread([&shared, &done, &run = runs[i], count] {
            if (count > 0) {
                Worker worker(shared, *run.context, count);
                run.status = worker.run();
            }
            done.fetch_add(1);
        });
    }
    bool progress = !options.quiet && isatty(STDERR_FILENO) == 1;
    wait_for_workers(runs, done, progress, start_ns);
    const double elapsed_s = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
    signal_target.store(nullptr);  // `shared` ends with this function

    Stats total;
    bool failed = false;
    for (WorkerRun& run : runs) {
        total.merge(run.context->stats);
        if (!run.status.ok()) {
            std::fprintf(stderr, "loadgen: %s\n", run.status.error().message.c_str());
            failed = true;
        }
    }
    if (record_fd >= 0 && ::close(record_fd) != 0) {
        ++total.record_errors;
    }
    RunDescription description{options.server,
                               options.sessions,
                               options.threads,
                               options.size_bytes,
                               options.messages_per_connection,
                               options.pipelining,
                               options.bdat,
                               options.starttls,
                               !options.auth_user.empty(),
                               shared.gave_up.load(),
                               signals_received.load() > 0};
    if (options.json) {
        print_json(description, total, elapsed_s);
    } else if (!options.quiet) {
        print_text(description, total, elapsed_s);
    }
    bool stopped = description.gave_up || description.interrupted || failed;
    return exit_status(options, total, stopped);
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
    loadgen::ParseOutcome parsed = loadgen::parse_options(argc, argv);
    if (const int* status = std::get_if<int>(&parsed)) {
        return *status;
    }
    return loadgen::run(std::get<loadgen::Options>(parsed));
}
