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
//
//     --record FILE writes one line per message it accepted (250), tab-separated:
//     MESSAGE-ID, SIZE and the XXH3-64 (16 hex digits) of the message without the Received:
//     fields at its top, that is of the message as its sender wrote it: loadgen's --record
//     lines can be matched with them, so that a test sees every message arrive byte-exact.
#include <signal.h>
#include <strings.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

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

// The lines of --record, from every worker; written by the main thread.
struct Record {
    std::mutex mutex;
    std::string pending;
    std::FILE* file = nullptr;

    void add(const std::string& line) {
        std::lock_guard lock(mutex);
        pending += line;
    }
    void flush() {
        std::string lines;
        {
            std::lock_guard lock(mutex);
            lines.swap(pending);
        }
        if (file != nullptr && !lines.empty()) {
            std::fwrite(lines.data(), 1, lines.size(), file);
            std::fflush(file);
        }
    }
};

struct Options {
    std::string listen = "127.0.0.1:2526";
    int workers = 1;
    std::string stats;
    std::string record;
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
                Record& record, std::function<void(SinkSession*)> release)
        : connection_(reactor, fd, peer, *this),
          session_(settings, *this),
          options_(options),
          counters_(counters),
          record_(record),
          release_(std::move(release)) {
        sink_.recording = !options.record.empty();
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
        sink_.reset();
        return sink_;
    }
    void abandon_message() override {}
    smtp::Verdict check_recipient(const smtp::Transaction&, std::string_view) override {
        std::uint64_t count = counters_.recipients.fetch_add(1, std::memory_order_relaxed);
        if (chosen(count, options_.reject_percent)) {
            counters_.rejected.fetch_add(1, std::memory_order_relaxed);
            return smtp::PolicyReply{550, "5.1.1", "No such user here"};
        }
        return std::nullopt;
    }
    void commit_message(const smtp::Transaction&, const message::MessagePass& pass) override {
        std::uint64_t count = counters_.messages.fetch_add(1, std::memory_order_relaxed);
        counters_.bytes.fetch_add(sink_.bytes, std::memory_order_relaxed);
        if (chosen(count, options_.defer_percent)) {
            counters_.deferred.fetch_add(1, std::memory_order_relaxed);
            session_.commit_refused({451, "4.7.1", "Greylisted, please try again later"});
        } else {
            if (sink_.recording) {
                record_message(pass);
            }
            session_.commit_done("SINK" + std::to_string(count));
        }
    }

  private:
    // Counts the bytes; with --record also hashes them, leaving out the Received: fields at
    // the top (the relays' trace), which it holds back until it knows where they end.
    struct CountingSink final : message::Sink {
        bool recording = false;
        std::uint64_t bytes = 0;
        std::uint64_t hashed = 0;
        std::string head;
        bool in_trace = true;
        XXH3_state_t state{};

        void reset() {
            bytes = 0;
            hashed = 0;
            head.clear();
            in_trace = true;
            XXH3_64bits_reset(&state);
        }
        void append(std::string_view data) override {
            bytes += data.size();
            if (!recording) {
                return;
            }
            if (!in_trace) {
                hash(data);
                return;
            }
            head.append(data);
            skip_trace(false);
        }
        void hash(std::string_view data) {
            XXH3_64bits_update(&state, data.data(), data.size());
            hashed += data.size();
        }
        // Drops whole Received: fields from the front of `head`; once the next field is
        // another one (or the message ends), hashes the rest.
        void skip_trace(bool at_end) {
            std::size_t offset = 0;
            while (true) {
                std::string_view rest = std::string_view(head).substr(offset);
                constexpr std::string_view name = "received:";
                if (rest.size() < name.size() && !at_end) {
                    break;
                }
                bool trace = rest.size() >= name.size() &&
                             std::equal(name.begin(), name.end(), rest.begin(), [](char a, char b) {
                                 return a == std::tolower(static_cast<unsigned char>(b));
                             });
                if (!trace) {
                    in_trace = false;
                    hash(rest);
                    head.clear();
                    return;
                }
                std::size_t end = 0;
                while (true) {
                    std::size_t line_end = rest.find("\r\n", end);
                    if (line_end == std::string_view::npos || line_end + 2 >= rest.size()) {
                        end = std::string_view::npos;
                        break;
                    }
                    end = line_end + 2;
                    if (rest[end] != ' ' && rest[end] != '\t') {
                        break;
                    }
                }
                if (end == std::string_view::npos) {
                    break;  // the field may go on: wait for more
                }
                offset += end;
            }
            head.erase(0, offset);
        }
        std::uint64_t digest() {
            if (in_trace) {
                skip_trace(true);
                if (in_trace) {
                    hash(head);
                }
            }
            return XXH3_64bits_digest(&state);
        }
    };

    void record_message(const message::MessagePass& pass) {
        const message::HeaderBlock& headers = pass.headers();
        std::string message_id;
        for (std::size_t index = 0; index < headers.fields.size(); ++index) {
            const message::HeaderField& field = headers.fields[index];
            std::string_view name(headers.bytes.data() + field.offset, field.name_bytes);
            if (name.size() == 10 && strncasecmp(name.data(), "message-id", 10) == 0) {
                message_id = headers.unfolded_field(index);
                break;
            }
        }
        std::uint64_t digest = sink_.digest();
        char line[64];
        std::snprintf(line, sizeof line, "\t%llu\t%016llx\n",
                      static_cast<unsigned long long>(sink_.hashed),
                      static_cast<unsigned long long>(digest));
        record_.add(message_id + line);
    }

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
    Record& record_;
    CountingSink sink_;
    std::function<void(SinkSession*)> release_;
};

class SinkWorker final : public engine::WorkerContext {
  public:
    SinkWorker(engine::Reactor& reactor, const Options& options, Counters& counters, Record& record)
        : reactor_(reactor), options_(options), counters_(counters), record_(record) {
        settings_.hostname = options.hostname;
        settings_.pass.require_valid_utf8 = false;
        settings_.pass.bare_line_endings = message::BareLineEndings::normalize;
    }
    Status listen(const engine::SocketAddress& address) {
        auto listener = engine::TcpListener::open(
            reactor_, address, 4096, [this](int fd, const engine::SocketAddress& peer) {
                auto session = std::make_unique<SinkSession>(
                    reactor_, fd, peer, settings_, options_, counters_, record_,
                    [this](SinkSession* done) {
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
    Record& record_;
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
    app.add_option("--record", options.record,
                   "file of MESSAGE-ID, SIZE, XXH3 lines, one per accepted message");
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
    Record record;
    if (!options.record.empty()) {
        record.file = std::fopen(options.record.c_str(), "a");
        if (record.file == nullptr) {
            std::fprintf(stderr, "relay-sink: cannot open %s\n", options.record.c_str());
            return 1;
        }
    }
    engine::WorkerPool pool;
    std::vector<engine::Reactor*> reactors(static_cast<std::size_t>(options.workers));
    Status started = pool.start(
        options.workers, engine::ReactorOptions{},
        [&](engine::Reactor& reactor) -> Result<std::unique_ptr<engine::WorkerContext>> {
            auto worker = std::make_unique<SinkWorker>(reactor, options, counters, record);
            if (Status listening = worker->listen(*address); !listening) {
                return listening.error();
            }
            reactors[static_cast<std::size_t>(reactor.index())] = &reactor;
            return std::unique_ptr<engine::WorkerContext>(std::move(worker));
        },
        // It stands in for the destinations' machines: pinned, it would share a core with
        // the relay's worker pinned there, which could not move to an idle core.
        engine::WorkerPool::Pinning::none);
    if (!started) {
        std::fprintf(stderr, "relay-sink: %s\n", started.error().message.c_str());
        return 1;
    }
    // The counters go to the stats file every 100 ms until a signal arrives.
    timespec tick{0, 100'000'000};
    for (;;) {
        write_stats(options.stats, counters);
        record.flush();
        if (sigtimedwait(&signals, nullptr, &tick) > 0) {
            break;
        }
    }
    write_stats(options.stats, counters);
    record.flush();
    std::printf("%s\n", stats_json(counters).c_str());
    std::fflush(stdout);
    // Sessions may be mid-message; the counts are final, so end without waiting for them.
    std::_Exit(0);
}
