// relay-sink -- a counting SMTP server for benchmarks and delivery tests, on relay's engine.
//
// SYNOPSIS
//     relay-sink --listen IP:PORT [--workers N] [--stats FILE] [--defer-percent P]
//                [--reject-percent P] [--hostname NAME]
//
// DESCRIPTION
//     Accepts SMTP (PIPELINING, CHUNKING, 8BITMIME, SMTPUTF8) with relay's own server session
//     on relay's io_uring engine, throws the messages away and counts them. Real destinations
//     push back, and a sink that never does hides queue behaviour: --reject-percent answers
//     that share of recipients "550 5.1.1" at RCPT, --defer-percent answers that share of
//     messages "451 4.7.1" after the data (a greylisting-style temporary failure). The choice
//     is a deterministic function of the message or recipient count, so runs are repeatable.
//
//     Every 100 ms the main thread writes the counters as JSON to --stats (atomically, by
//     rename); SIGTERM or SIGINT prints them on stdout and exits 0.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>
#include <unordered_map>

#include "relay/base/command_line.h"
#include "relay/base/log.h"
#include "relay/engine/tcp_connection.h"
#include "relay/engine/tcp_listener.h"
#include "relay/engine/worker_pool.h"
#include "relay/smtp/server_session.h"

namespace {

using namespace relay;

struct Counters {
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::uint64_t> recipients{0};
    std::atomic<std::uint64_t> deferred{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> connections{0};
};

struct Options {
    std::string listen = "127.0.0.1:2526";
    int workers = 1;
    std::string stats;
    unsigned defer_percent = 0;
    unsigned reject_percent = 0;
    std::string hostname = "sink.localhost";
};

// True for `percent` out of every 100 consecutive values of `count`, spread evenly.
bool chosen(std::uint64_t count, unsigned percent) {
    return percent > 0 && (count * percent) % 100 < percent;
}

class SinkSession final : public engine::ConnectionHandler, public smtp::ServerHooks {
  public:
    SinkSession(engine::Reactor& reactor, int fd, const engine::SocketAddress& peer,
                const smtp::ServerSettings& settings, const Options& options, Counters& counters,
                std::function<void(SinkSession*)> release)
        : connection_(reactor, fd, peer, *this),
          session_(settings, *this),
          options_(options),
          counters_(counters),
          release_(std::move(release)) {
        counters_.connections.fetch_add(1, std::memory_order_relaxed);
        session_.start();
        connection_.start_receiving();
        flush();
    }

    void on_receive(std::span<char> bytes) override {
        session_.receive(bytes);
        flush();
    }
    void on_disconnect(int) override {
        session_.end_of_input();
        flush();
    }
    void on_closed() override { release_(this); }

    message::Sink& open_message(const smtp::Transaction&) override {
        sink_.bytes = 0;
        return sink_;
    }
    void abandon_message() override {}
    std::optional<smtp::PolicyReply> check_recipient(const smtp::Transaction&,
                                                     std::string_view) override {
        std::uint64_t count = counters_.recipients.fetch_add(1, std::memory_order_relaxed);
        if (chosen(count, options_.reject_percent)) {
            counters_.rejected.fetch_add(1, std::memory_order_relaxed);
            return smtp::PolicyReply{550, "5.1.1", "No such user here"};
        }
        return std::nullopt;
    }
    void commit_message(const smtp::Transaction&, const message::MessagePass&) override {
        std::uint64_t count = counters_.messages.fetch_add(1, std::memory_order_relaxed);
        counters_.bytes.fetch_add(sink_.bytes, std::memory_order_relaxed);
        if (chosen(count, options_.defer_percent)) {
            counters_.deferred.fetch_add(1, std::memory_order_relaxed);
            session_.commit_refused({451, "4.7.1", "Greylisted, please try again later"});
        } else {
            session_.commit_done("SINK" + std::to_string(count));
        }
    }

  private:
    struct CountingSink final : message::Sink {
        std::uint64_t bytes = 0;
        void append(std::string_view data) override { bytes += data.size(); }
    };

    void flush() {
        std::string& output = session_.output();
        if (!output.empty()) {
            connection_.send(output);
            output.clear();
        }
        if (session_.wants_close()) {
            connection_.close();
        }
    }

    engine::TcpConnection connection_;
    smtp::ServerSession session_;
    const Options& options_;
    Counters& counters_;
    CountingSink sink_;
    std::function<void(SinkSession*)> release_;
};

class SinkWorker final : public engine::WorkerContext {
  public:
    SinkWorker(engine::Reactor& reactor, const Options& options, Counters& counters)
        : reactor_(reactor), options_(options), counters_(counters) {
        settings_.hostname = options.hostname;
        settings_.pass.require_valid_utf8 = false;
        settings_.pass.bare_line_endings = message::BareLineEndings::normalize;
    }
    Status listen(const engine::SocketAddress& address) {
        auto listener = engine::TcpListener::open(
            reactor_, address, 4096, [this](int fd, const engine::SocketAddress& peer) {
                auto session = std::make_unique<SinkSession>(
                    reactor_, fd, peer, settings_, options_, counters_, [this](SinkSession* done) {
                        reactor_.defer([this, done] { sessions_.erase(done); });
                    });
                SinkSession* raw = session.get();
                sessions_.emplace(raw, std::move(session));
            });
        if (!listener) {
            return listener.error();
        }
        listener_ = std::move(listener.value());
        return {};
    }

  private:
    engine::Reactor& reactor_;
    const Options& options_;
    Counters& counters_;
    smtp::ServerSettings settings_;
    std::unique_ptr<engine::TcpListener> listener_;
    std::unordered_map<SinkSession*, std::unique_ptr<SinkSession>> sessions_;
};

std::string stats_json(const Counters& counters) {
    char text[256];
    std::snprintf(text, sizeof text,
                  "{\"messages\": %llu, \"bytes\": %llu, \"recipients\": %llu, "
                  "\"deferred\": %llu, \"rejected\": %llu, \"connections\": %llu}",
                  static_cast<unsigned long long>(counters.messages.load()),
                  static_cast<unsigned long long>(counters.bytes.load()),
                  static_cast<unsigned long long>(counters.recipients.load()),
                  static_cast<unsigned long long>(counters.deferred.load()),
                  static_cast<unsigned long long>(counters.rejected.load()),
                  static_cast<unsigned long long>(counters.connections.load()));
    return text;
}

void write_stats(const std::string& path, const Counters& counters) {
    if (path.empty()) {
        return;
    }
    std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << stats_json(counters) << "\n";
    }
    std::rename(temporary.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"relay-sink: a counting SMTP server"};
    app.add_option("--listen", options.listen, "IP:PORT to listen on");
    app.add_option("--workers", options.workers, "worker threads")->check(CLI::Range(1, 64));
    app.add_option("--stats", options.stats, "file the counters are written to (JSON)");
    app.add_option("--defer-percent", options.defer_percent,
                   "share of messages answered 451 4.7.1 after the data")
        ->check(CLI::Range(0, 100));
    app.add_option("--reject-percent", options.reject_percent,
                   "share of recipients answered 550 5.1.1")
        ->check(CLI::Range(0, 100));
    app.add_option("--hostname", options.hostname, "name in the greeting");
    if (auto status = relay::parse_command_line(app, argc, argv)) {
        return *status;
    }
    auto address = engine::SocketAddress::parse(options.listen);
    if (!address) {
        std::fprintf(stderr, "relay-sink: --listen must be IP:PORT\n");
        return 2;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Counters counters;
    engine::WorkerPool pool;
    std::vector<engine::Reactor*> reactors(static_cast<std::size_t>(options.workers));
    Status started =
        pool.start(options.workers, engine::ReactorOptions{},
                   [&](engine::Reactor& reactor) -> Result<std::unique_ptr<engine::WorkerContext>> {
                       auto worker = std::make_unique<SinkWorker>(reactor, options, counters);
                       if (Status listening = worker->listen(*address); !listening) {
                           return listening.error();
                       }
                       reactors[static_cast<std::size_t>(reactor.index())] = &reactor;
                       return std::unique_ptr<engine::WorkerContext>(std::move(worker));
                   });
    if (!started) {
        std::fprintf(stderr, "relay-sink: %s\n", started.error().message.c_str());
        return 1;
    }
    // The counters go to the stats file every 100 ms until a signal arrives.
    timespec tick{0, 100'000'000};
    for (;;) {
        write_stats(options.stats, counters);
        if (sigtimedwait(&signals, nullptr, &tick) > 0) {
            break;
        }
    }
    write_stats(options.stats, counters);
    std::printf("%s\n", stats_json(counters).c_str());
    std::fflush(stdout);
    // Sessions may be mid-message; the counts are final, so end without waiting for them.
    std::_Exit(0);
}
