// The spool against a simple model, across thousands of random crashes.
//
// Each round forks a child that recovers the spool folder, opens a WorkerSpool on a real
// io_uring with random small segment and chunk sizes (and a small ring, so that group commits
// are split across submissions), and drives it at random: interleaved sessions feeding
// messages of 0 B to tens of MB in random pieces, abandoned messages, commits, delivery
// outcomes and deferrals, finished messages, flushes, compaction, and read-backs through the
// BodyReader that compare every byte. The child reports what it asked for and what the spool
// confirmed through a pipe, then kills itself with SIGKILL at a random step. The parent then
// plays a power cut: every segment is cut at a random offset at or past the bytes a group
// commit made durable, and part of what lies past that point is overwritten; segment files
// that no commit made durable may vanish. Then it recovers the folder and checks it against
// the model:
//
//   * every message that was acknowledged (250) and not finished durably is recovered, with
//     its bytes identical to what was fed;
//   * no queue id is recovered twice, and nothing is recovered that was never committed
//     (an abandoned or unfinished message), nor anything whose bytes differ;
//   * delivery state is never older than the last flush confirmed, nor newer than asked for;
//   * a message finished before a confirmed flush never comes back.
//
// Bounded by RELAY_SPOOL_MODEL_SECONDS (default 10); RELAY_SPOOL_MODEL_SEED repeats a run's
// workload and crash steps (the kernel's I/O timing still varies from run to run).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "relay/engine/reactor.h"
#include "relay/spool/body_reader.h"
#include "relay/spool/recovery.h"
#include "relay/spool/worker_spool.h"

namespace relay::spool {
namespace {

namespace fs = std::filesystem;
using Random = std::mt19937_64;

std::uint64_t mix(std::uint64_t value) {
    value += 0x9E3779B97F4A7C15ULL;
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
    return value ^ (value >> 31);
}

// The bytes of message `seed` from `offset`: a function of the position only, so that a
// piece can be made anywhere without the rest.
void fill(std::uint64_t seed, std::uint64_t offset, char* out, std::size_t bytes) {
    std::size_t index = 0;
    while (index < bytes) {
        std::uint64_t position = offset + index;
        std::uint64_t word = mix(seed ^ (position / 8 * 0x100000001B3ULL));
        std::size_t skip = position % 8;
        std::size_t take = std::min<std::size_t>(8 - skip, bytes - index);
        for (std::size_t byte = 0; byte < take; ++byte) {
            out[index + byte] = static_cast<char>(word >> (8 * (skip + byte)));
        }
        index += take;
    }
}

// The resource of message `seed`: empty (accepted without AUTH) or any length up to the bound,
// so that message records of every size class cross the crash points.
std::string resource_of(std::uint64_t seed) {
    std::uint64_t word = mix(seed ^ 0x7265736F75726365ULL);
    std::string resource(word % 4 == 0 ? 0 : (word >> 8) % (resource_bytes_max + 1), '\0');
    fill(word, 0, resource.data(), resource.size());
    return resource;
}

std::string content(std::uint64_t seed, std::uint64_t size) {
    std::string bytes(size, '\0');
    fill(seed, 0, bytes.data(), bytes.size());
    return bytes;
}

std::uint64_t log_uniform(Random& random, std::uint64_t low, std::uint64_t high) {
    double exponent = std::uniform_real_distribution<double>(
        std::log2(static_cast<double>(low)), std::log2(static_cast<double>(high)))(random);
    return static_cast<std::uint64_t>(std::exp2(exponent));
}

// 0 B to tens of MB, most of them small, as real traffic.
std::uint64_t message_size(Random& random) {
    unsigned kind = std::uniform_int_distribution<unsigned>(0, 99)(random);
    if (kind < 5) {
        return std::uniform_int_distribution<std::uint64_t>(0, 64)(random);
    }
    if (kind < 55) {
        return std::uniform_int_distribution<std::uint64_t>(64, 4096)(random);
    }
    if (kind < 85) {
        return log_uniform(random, 4096, 256 << 10);
    }
    if (kind < 97) {
        return log_uniform(random, 256 << 10, 3 << 20);
    }
    return log_uniform(random, 3 << 20, 24 << 20);
}

struct ModelMessage {
    std::uint64_t seed = 0;
    std::uint64_t size = 0;
    bool acknowledged = false;
    // Per recipient: what the spool was asked to record, and at which operation.
    std::vector<RecipientStatus> status;
    std::vector<std::uint64_t> status_operation;
    std::vector<RecipientStatus> durable_status;  // as of the last recovery
    std::uint32_t attempts = 0;
    std::uint64_t attempts_operation = 0;
    std::uint32_t durable_attempts = 0;
    std::uint64_t finish_operation = 0;  // 0: not finished
};

struct RoundOptions {
    std::uint64_t seed = 0;
    std::uint64_t segment_bytes_max = 0;
    std::uint32_t chunk_bytes = 0;
    std::uint64_t cache_bytes_max = 0;
    std::uint32_t ring_entries = 0;
    std::uint64_t kill_step = 0;
};

struct Totals {
    std::uint64_t rounds = 0;
    std::uint64_t committed = 0;
    std::uint64_t acknowledged = 0;
    std::uint64_t abandoned = 0;
    std::uint64_t finished = 0;
    std::uint64_t recovered = 0;
    std::uint64_t recovered_unacknowledged = 0;
    std::uint64_t bytes_fed = 0;
    std::uint64_t read_backs = 0;
    std::uint64_t files_cut = 0;
};

// ---------------------------------------------------------------------------------------------
// The child: drives one WorkerSpool until it kills itself.

class Workload {
  public:
    Workload(const RoundOptions& options, const std::map<QueueId, ModelMessage>& model, int out)
        : options_(options), random_(options.seed), out_(out) {
        for (const auto& [id, message] : model) {
            Delivered entry;
            entry.recipients = message.durable_status;
            entry.attempts = message.durable_attempts;
            entry.seed = message.seed;
            entry.size = message.size;
            live_.emplace(id, std::move(entry));
        }
    }

    int run(const std::string& folder) {
        engine::ReactorOptions reactor_options;
        reactor_options.ring_entries = options_.ring_entries;
        reactor_options.receive_buffer_count = 4;
        reactor_options.receive_buffer_bytes = 4096;
        auto reactor = engine::Reactor::create(0, reactor_options);
        if (!reactor) {
            return fail("reactor: " + reactor.error().message);
        }
        reactor_ = std::move(reactor.value());
        auto recovered = recover(folder, true);
        if (!recovered) {
            return fail("recover: " + recovered.error().message);
        }
        for (const std::string& empty : recovered->empty_files) {
            ::unlink(empty.c_str());
        }
        sequence_ = recovered->next_sequence;
        SpoolOptions spool_options{folder, options_.segment_bytes_max, options_.chunk_bytes,
                                   options_.cache_bytes_max};
        spool_ = std::make_unique<WorkerSpool>(*reactor_, 0, spool_options, sequence_,
                                               recovered->largest_queue_id);
        spool_->set_on_durable([this](std::uint64_t sequence, std::uint64_t bytes) {
            report("D " + std::to_string(sequence) + " " + std::to_string(bytes));
        });
        Status opened = spool_->open(recovered->segments, std::move(recovered->messages));
        if (!opened) {
            return fail("open: " + opened.error().message);
        }
        reactor_->defer([this] { step(); });
        reactor_->run();
        return failed_ ? 3 : 0;
    }

  private:
    struct Session {
        std::unique_ptr<WorkerSpool::Incoming> incoming;
        std::uint64_t seed = 0;
        std::uint64_t size = 0;
        std::uint64_t fed = 0;
        std::uint32_t recipients = 1;
    };
    struct Delivered {
        std::uint64_t seed = 0;
        std::uint64_t size = 0;
        std::vector<RecipientStatus> recipients;
        std::uint32_t attempts = 0;
    };
    struct ReadBack {
        QueueId id = 0;
        std::unique_ptr<WorkerSpool::BodyReader> reader;
        std::uint64_t seed = 0;
        std::uint64_t offset = 0;
        std::uint64_t stop_after = 0;  // abandon the reader after this many bytes
    };

    int fail(const std::string& what) {
        report("X " + what);
        failed_ = true;
        if (reactor_) {
            reactor_->stop();
        }
        return 3;
    }

    void report(const std::string& line) {
        std::string text = line + "\n";
        // One write per line, under PIPE_BUF: lines never interleave or tear.
        ssize_t written = ::write(out_, text.data(), text.size());
        (void)written;
    }

    unsigned pick(unsigned bound) {
        return std::uniform_int_distribution<unsigned>(0, bound - 1)(random_);
    }

    void step() {
        if (failed_) {
            return;
        }
        if (++steps_ >= options_.kill_step) {
            report("K");
            ::kill(::getpid(), SIGKILL);
        }
        unsigned action = pick(100);
        if (action < 12) {
            start_session();
        } else if (action < 60) {
            feed_session();
        } else if (action < 62) {
            abandon_session();
        } else if (action < 78) {
            deliver();
        } else if (action < 86) {
            start_read_back();
        } else if (action < 88) {
            spool_->compact();
        } else if (action < 94) {
            flush();
        }
        // Mostly go on at once; sometimes wait a little so that the disk catches up.
        if (pick(8) == 0) {
            reactor_->timers().add(reactor_->now() + std::chrono::milliseconds(pick(3)),
                                   [this] { step(); });
        } else {
            reactor_->defer([this] { step(); });
        }
    }

    void start_session() {
        if (sessions_.size() >= 6 || live_bytes_ > (96u << 20)) {
            return;
        }
        Session session;
        session.seed = random_();
        // Tiny chunks make many records: keep those messages to a few thousand chunks.
        session.size = std::min<std::uint64_t>(message_size(random_),
                                               std::uint64_t{options_.chunk_bytes} * 4096);
        session.recipients = 1 + pick(3);
        session.incoming = spool_->begin_message(pick(2) == 0 ? session.size : pick(100'000));
        live_bytes_ += session.size;
        sessions_.push_back(std::move(session));
    }

    void feed_session() {
        if (sessions_.empty()) {
            return;
        }
        std::size_t index = pick(static_cast<unsigned>(sessions_.size()));
        Session& session = sessions_[index];
        std::uint64_t room = session.size - session.fed;
        std::uint64_t piece = std::min<std::uint64_t>(room, log_uniform(random_, 1, 512 << 10));
        StagingSpace space = session.incoming->receiving_space(0);
        if (piece > 0 && space.bytes.size() > 1 && pick(2) == 0) {
            // As the kernel receives into the chunk itself: the bytes are made in place, with
            // sometimes one byte the message pass would drop (a stuffed dot) in between.
            piece = std::min<std::uint64_t>(piece, space.bytes.size() - 1);
            char* at = space.bytes.data();
            std::size_t split = pick(3) == 0 ? pick(static_cast<unsigned>(piece)) : piece;
            fill(session.seed, session.fed, at, split);
            at[split] = '.';
            fill(session.seed, session.fed + split, at + split + 1, piece - split);
            session.incoming->append(std::string_view(at, split));
            session.incoming->append(std::string_view(at + split + 1, piece - split));
            session.fed += piece;
        } else if (piece > 0) {
            buffer_.resize(piece);
            fill(session.seed, session.fed, buffer_.data(), buffer_.size());
            session.incoming->append(buffer_);
            session.fed += piece;
        }
        if (session.fed == session.size) {
            Session done = std::move(sessions_[index]);
            sessions_.erase(sessions_.begin() + static_cast<std::ptrdiff_t>(index));
            commit(std::move(done));
        }
    }

    void abandon_session() {
        if (sessions_.empty()) {
            return;
        }
        std::size_t index = pick(static_cast<unsigned>(sessions_.size()));
        live_bytes_ -= sessions_[index].size;
        sessions_.erase(sessions_.begin() + static_cast<std::ptrdiff_t>(index));
        report("B");
    }

    void commit(Session session) {
        QueueId id = session.incoming->queue_id();
        report("C " + std::to_string(id) + " " + std::to_string(session.seed) + " " +
               std::to_string(session.size) + " " + std::to_string(session.recipients));
        QueuedMessage message;
        message.envelope.reverse_path = "sender@example.com";
        message.envelope.received_unix_ms = 1'700'000'000'000;
        message.envelope.resource = resource_of(session.seed);
        for (std::uint32_t recipient = 0; recipient < session.recipients; ++recipient) {
            message.recipients.push_back(
                Recipient{"r" + std::to_string(recipient) + "@example.net"});
        }
        Delivered delivered;
        delivered.seed = session.seed;
        delivered.size = session.size;
        delivered.recipients.assign(session.recipients, RecipientStatus::pending);
        spool_->commit(
            std::move(session.incoming), std::move(message),
            [this, id, delivered = std::move(delivered)](Result<QueueId> result) {
                if (!result) {
                    fail("commit of " + std::to_string(id) + " failed: " + result.error().message);
                    return;
                }
                if (result.value() != id) {
                    fail("commit reported another queue id");
                    return;
                }
                report("A " + std::to_string(id));
                live_.emplace(id, delivered);
                if (pick(3) == 0) {
                    // The session's next message was pipelined behind this one: it is taken
                    // in at once, from inside the commit's callback.
                    feed_session();
                }
            });
    }

    // A random outcome for a random message: a recipient delivered or failed, a deferral, or
    // the whole message finished.
    void deliver() {
        if (live_.empty()) {
            return;
        }
        auto it = std::next(live_.begin(),
                            pick(static_cast<unsigned>(std::min<std::size_t>(live_.size(), 64))));
        QueueId id = it->first;
        Delivered& message = it->second;
        if (spool_->find(id) == nullptr) {
            fail("message " + std::to_string(id) + " is not in the spool's index");
            return;
        }
        std::vector<std::uint32_t> pending;
        for (std::uint32_t index = 0; index < message.recipients.size(); ++index) {
            if (message.recipients[index] == RecipientStatus::pending) {
                pending.push_back(index);
            }
        }
        unsigned choice = pick(10);
        if (choice < 6 && !pending.empty()) {
            std::uint32_t index = pending[pick(static_cast<unsigned>(pending.size()))];
            RecipientStatus status =
                pick(4) == 0 ? RecipientStatus::failed : RecipientStatus::delivered;
            message.recipients[index] = status;
            spool_->record_recipient(id, RecipientDone{index, status, "mx.example.net", "250 ok"});
            report("R " + std::to_string(++operations_) + " " + std::to_string(id) + " " +
                   std::to_string(index) + " " + std::to_string(static_cast<int>(status)));
            if (pending.size() > 1) {
                return;  // others are still pending
            }
        } else if (choice < 8 && !pending.empty()) {
            ++message.attempts;
            spool_->record_deferral(id, Deferral{message.attempts, 1'800'000'000'000, "451 later"});
            report("T " + std::to_string(++operations_) + " " + std::to_string(id) + " " +
                   std::to_string(message.attempts));
            return;
        }
        // Every recipient is final, or the message is bounced or deleted as a whole.
        spool_->finish(id);
        report("F " + std::to_string(++operations_) + " " + std::to_string(id));
        live_bytes_ -= std::min(live_bytes_, message.size);
        live_.erase(it);
    }

    void flush() {
        std::uint64_t covered = operations_;
        spool_->flush([this, covered](const Status& status) {
            if (status) {
                report("S " + std::to_string(covered));
            }
        });
    }

    void start_read_back() {
        if (live_.empty() || read_backs_ >= 2) {
            return;
        }
        auto it = std::next(live_.begin(),
                            pick(static_cast<unsigned>(std::min<std::size_t>(live_.size(), 64))));
        auto read = std::make_shared<ReadBack>();
        read->id = it->first;
        read->seed = it->second.seed;
        read->reader = spool_->open_body(it->first, log_uniform(random_, 1, 256 << 10));
        if (!read->reader) {
            fail("cannot open message " + std::to_string(it->first));
            return;
        }
        read->stop_after =
            pick(4) == 0 ? pick(static_cast<unsigned>(it->second.size + 1)) : it->second.size + 1;
        ++read_backs_;
        continue_read_back(read);
    }

    void continue_read_back(const std::shared_ptr<ReadBack>& read) {
        if (read->reader->at_end() || read->offset > read->stop_after) {
            --read_backs_;
            report("V");
            return;  // dropping the reader, maybe with nothing in flight, maybe half way
        }
        read->reader->read([this, read](Result<BodyPiece> piece) {
            if (!piece) {
                fail("reading message " + std::to_string(read->id) +
                     " back: " + piece.error().message);
                return;
            }
            std::string_view bytes = piece.value().bytes;
            expected_.resize(bytes.size());
            fill(read->seed, read->offset, expected_.data(), expected_.size());
            if (bytes != std::string_view(expected_)) {
                fail("message " + std::to_string(read->id) + " read back differs at " +
                     std::to_string(read->offset));
                return;
            }
            read->offset += bytes.size();
            if (!read->reader->at_end() && pick(3) == 0) {
                // Sometimes the reader goes away while its next read is in flight.
                read->reader->read([](const Result<BodyPiece>&) {});
                read->reader.reset();
                --read_backs_;
                return;
            }
            continue_read_back(read);
        });
    }

    RoundOptions options_;
    Random random_;
    int out_;
    std::unique_ptr<engine::Reactor> reactor_;
    std::atomic<std::uint64_t> sequence_{1};
    std::unique_ptr<WorkerSpool> spool_;
    std::vector<Session> sessions_;
    std::map<QueueId, Delivered> live_;
    std::uint64_t live_bytes_ = 0;
    std::uint64_t operations_ = 0;
    std::uint64_t steps_ = 0;
    unsigned read_backs_ = 0;
    std::string buffer_;
    std::string expected_;
    bool failed_ = false;
};

// ---------------------------------------------------------------------------------------------
// The parent: the model, the power cut, the check.

class SpoolModel {
  public:
    SpoolModel(std::uint64_t seed, std::string folder)
        : random_(seed), folder_(std::move(folder)) {}

    const Totals& totals() const { return totals_; }

    // Runs one round; returns an empty string, or what went wrong.
    std::string round() {
        RoundOptions options;
        options.seed = random_();
        options.segment_bytes_max = log_uniform(random_, 4 << 10, 8 << 20);
        options.chunk_bytes = static_cast<std::uint32_t>(log_uniform(random_, 512, 1 << 20));
        options.cache_bytes_max = pick(3) == 0 ? 0 : log_uniform(random_, 1 << 10, 32 << 20);
        const std::uint32_t rings[] = {4, 8, 32, 256};
        options.ring_entries = rings[pick(4)];
        options.kill_step = log_uniform(random_, 2, 4000);
        ++totals_.rounds;
        std::ostringstream round_name;
        round_name << "round " << totals_.rounds << " (segments " << options.segment_bytes_max
                   << " B, chunks " << options.chunk_bytes << " B, cache "
                   << options.cache_bytes_max << " B, ring " << options.ring_entries
                   << ", crash at step " << options.kill_step << ")";
        std::string trouble = run_child(options);
        if (trouble.empty()) {
            cut_files();
            trouble = check();
        }
        return trouble.empty() ? trouble : round_name.str() + ": " + trouble;
    }

  private:
    unsigned pick(unsigned bound) {
        return std::uniform_int_distribution<unsigned>(0, bound - 1)(random_);
    }

    std::string run_child(const RoundOptions& options) {
        int pipe_fds[2];
        if (::pipe(pipe_fds) != 0) {
            return "pipe failed";
        }
        pid_t child = ::fork();
        if (child < 0) {
            return "fork failed";
        }
        if (child == 0) {
            ::close(pipe_fds[0]);
            Workload workload(options, model_, pipe_fds[1]);
            ::_exit(workload.run(folder_));
        }
        ::close(pipe_fds[1]);
        std::string text;
        char buffer[65536];
        while (true) {
            ssize_t got = ::read(pipe_fds[0], buffer, sizeof buffer);
            if (got <= 0) {
                break;
            }
            text.append(buffer, static_cast<std::size_t>(got));
        }
        ::close(pipe_fds[0]);
        int status = 0;
        ::waitpid(child, &status, 0);
        std::istringstream lines(text);
        std::string line;
        while (std::getline(lines, line)) {
            if (line.rfind("X ", 0) == 0) {
                return "the running spool: " + line.substr(2);
            }
            apply(line);
        }
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
            return "the running spool died of signal " + std::to_string(WTERMSIG(status)) +
                   " (an assertion? see the panic line above)";
        }
        if (!WIFSIGNALED(status)) {
            return "the running spool stopped before its crash (exit status " +
                   std::to_string(WEXITSTATUS(status)) + ")";
        }
        return {};
    }

    void apply(const std::string& line) {
        std::istringstream fields(line);
        char kind = 0;
        fields >> kind;
        if (kind != 'D' && kind != 'S' && kind != 'B' && kind != 'V' && kind != 'K') {
            std::istringstream again(line.substr(1));
            std::uint64_t first = 0;
            std::uint64_t second = 0;
            again >> first >> second;
            QueueId id = kind == 'C' || kind == 'A' ? first : second;
            history_[id] += "r" + std::to_string(totals_.rounds) + ":" + line.substr(0, 1) + " ";
        }
        if (kind == 'D') {
            std::uint64_t sequence = 0;
            std::uint64_t bytes = 0;
            fields >> sequence >> bytes;
            durable_[sequence] = std::max(durable_[sequence], bytes);
        } else if (kind == 'C') {
            QueueId id = 0;
            ModelMessage message;
            std::uint32_t recipients = 0;
            fields >> id >> message.seed >> message.size >> recipients;
            message.status.assign(recipients, RecipientStatus::pending);
            message.status_operation.assign(recipients, 0);
            message.durable_status = message.status;
            model_[id] = std::move(message);
            ++totals_.committed;
            totals_.bytes_fed += model_[id].size;
        } else if (kind == 'A') {
            QueueId id = 0;
            fields >> id;
            model_.at(id).acknowledged = true;
            ++totals_.acknowledged;
        } else if (kind == 'R') {
            std::uint64_t operation = 0;
            QueueId id = 0;
            std::uint32_t index = 0;
            int status = 0;
            fields >> operation >> id >> index >> status;
            ModelMessage& message = model_.at(id);
            message.status[index] = static_cast<RecipientStatus>(status);
            message.status_operation[index] = operation;
        } else if (kind == 'T') {
            std::uint64_t operation = 0;
            QueueId id = 0;
            std::uint32_t attempts = 0;
            fields >> operation >> id >> attempts;
            model_.at(id).attempts = attempts;
            model_.at(id).attempts_operation = operation;
        } else if (kind == 'F') {
            std::uint64_t operation = 0;
            QueueId id = 0;
            fields >> operation >> id;
            model_.at(id).finish_operation = operation;
            ++totals_.finished;
        } else if (kind == 'S') {
            std::uint64_t operation = 0;
            fields >> operation;
            flushed_operation_ = std::max(flushed_operation_, operation);
        } else if (kind == 'B') {
            ++totals_.abandoned;
        } else if (kind == 'V') {
            ++totals_.read_backs;
        }
    }

    // A power cut: what no fdatasync covered may be lost, torn or garbled.
    void cut_files() {
        for (const auto& entry : fs::directory_iterator(folder_)) {
            if (entry.path().extension() != ".seg") {
                continue;
            }
            std::uint64_t sequence = std::stoull(entry.path().stem().string(), nullptr, 16);
            std::uint64_t size = fs::file_size(entry.path());
            auto known = durable_.find(sequence);
            std::uint64_t durable = known == durable_.end() ? 0 : known->second;
            if (durable == 0 && pick(2) == 0) {
                fs::remove(entry.path());  // its name never reached the disk
                durable_.erase(sequence);
                continue;
            }
            if (size <= durable) {
                durable_[sequence] = size;
                continue;
            }
            std::uint64_t cut =
                durable + std::uniform_int_distribution<std::uint64_t>(0, size - durable)(random_);
            ++totals_.files_cut;
            int fd = ::open(entry.path().c_str(), O_WRONLY);
            if (fd < 0) {
                continue;
            }
            if (::ftruncate(fd, static_cast<off_t>(cut)) != 0) {
                ::close(fd);
                continue;
            }
            // Pages past the durable point that did reach the disk may hold anything.
            for (unsigned garble = pick(3); garble > 0 && cut > durable; --garble) {
                std::uint64_t at = durable + std::uniform_int_distribution<std::uint64_t>(
                                                 0, cut - durable - 1)(random_);
                std::string junk(std::min<std::uint64_t>(cut - at, 1 + pick(4096)), '\0');
                if (pick(2) == 0) {
                    for (char& byte : junk) {
                        byte = static_cast<char>(random_());
                    }
                }
                ssize_t written = ::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(at));
                (void)written;
            }
            ::close(fd);
            durable_[sequence] = cut;  // what survived the cut is on the disk from now on
        }
    }

    std::string check() {
        auto recovered = recover(folder_, false);
        if (!recovered) {
            return "recovery failed: " + recovered.error().message;
        }
        std::set<QueueId> seen;
        std::map<QueueId, ModelMessage> next;
        for (const RecoveredMessage& found : recovered->messages) {
            QueueId id = found.message.id;
            std::string name = "message " + format_queue_id(id);
            if (!seen.insert(id).second) {
                return name + " was recovered twice";
            }
            auto known = model_.find(id);
            if (known == model_.end()) {
                return name + " was recovered but is not in the model (" + history_[id] + ")";
            }
            ModelMessage& message = known->second;
            if (message.finish_operation != 0 && message.finish_operation <= flushed_operation_) {
                return name + " came back after it was finished and flushed";
            }
            auto bytes = read_message_bytes(folder_, found.message);
            if (!bytes) {
                return name + " cannot be read: " + bytes.error().message;
            }
            if (bytes.value().size() != message.size ||
                bytes.value() != content(message.seed, message.size)) {
                return name + " was recovered with other bytes (" +
                       std::to_string(bytes.value().size()) + " of " +
                       std::to_string(message.size) + ")";
            }
            if (found.message.envelope.resource != resource_of(message.seed)) {
                return name + " was recovered with another resource";
            }
            if (found.message.recipients.size() != message.status.size()) {
                return name + " was recovered with other recipients";
            }
            for (std::size_t index = 0; index < message.status.size(); ++index) {
                RecipientStatus status = found.message.recipients[index].status;
                bool confirmed = message.status_operation[index] != 0 &&
                                 message.status_operation[index] <= flushed_operation_;
                RecipientStatus older =
                    confirmed ? message.status[index] : message.durable_status[index];
                if (status != older && status != message.status[index]) {
                    return name + " recipient " + std::to_string(index) + " has state " +
                           recipient_status_name(status) + ", expected " +
                           recipient_status_name(older) + " or " +
                           recipient_status_name(message.status[index]);
                }
            }
            std::uint32_t attempts_floor =
                message.attempts_operation != 0 && message.attempts_operation <= flushed_operation_
                    ? message.attempts
                    : message.durable_attempts;
            std::uint32_t attempts_ceiling = std::max(message.attempts, message.durable_attempts);
            if (found.message.attempts < attempts_floor ||
                found.message.attempts > attempts_ceiling) {
                return name + " has " + std::to_string(found.message.attempts) +
                       " attempts, expected " + std::to_string(attempts_floor) + " to " +
                       std::to_string(attempts_ceiling);
            }
            if (!message.acknowledged) {
                ++totals_.recovered_unacknowledged;
            }
            ModelMessage carried;
            carried.seed = message.seed;
            carried.size = message.size;
            carried.acknowledged = true;
            for (const Recipient& recipient : found.message.recipients) {
                carried.status.push_back(recipient.status);
            }
            carried.status_operation.assign(carried.status.size(), 0);
            carried.durable_status = carried.status;
            carried.attempts = found.message.attempts;
            carried.durable_attempts = found.message.attempts;
            next.emplace(id, std::move(carried));
        }
        for (const auto& [id, message] : model_) {
            if (message.acknowledged && message.finish_operation == 0 && !seen.contains(id)) {
                return "message " + format_queue_id(id) + " was acknowledged and is lost";
            }
        }
        for (const auto& [id, message] : model_) {
            if (!next.contains(id)) {
                history_[id] += "r" + std::to_string(totals_.rounds) + ":dropped ";
            }
        }
        totals_.recovered += recovered->messages.size();
        model_ = std::move(next);
        flushed_operation_ = 0;
        return {};
    }

    Random random_;
    std::string folder_;
    std::map<QueueId, ModelMessage> model_;
    std::map<std::uint64_t, std::uint64_t> durable_;
    std::uint64_t flushed_operation_ = 0;
    Totals totals_;
    std::map<QueueId, std::string> history_;
};

std::uint64_t environment_number(const char* name, std::uint64_t fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

TEST(SpoolModel, AcknowledgedMessagesSurviveRandomCrashes) {
    std::uint64_t seconds = environment_number("RELAY_SPOOL_MODEL_SECONDS", 10);
    std::uint64_t seed = environment_number("RELAY_SPOOL_MODEL_SEED", std::random_device{}());
    std::printf("spool model: seed %llu, %llu s (repeat: RELAY_SPOOL_MODEL_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seconds),
                static_cast<unsigned long long>(seed));
    std::fflush(stdout);
    char pattern[] = "/tmp/relay-spool-model-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    std::string folder = std::string(pattern) + "/segments";
    fs::create_directories(folder);
    SpoolModel model(seed, folder);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    std::string trouble;
    while (trouble.empty() && std::chrono::steady_clock::now() < deadline) {
        trouble = model.round();
    }
    const Totals& totals = model.totals();
    std::printf(
        "spool model: %llu crashes; %llu messages committed (%llu MB), %llu acknowledged, %llu "
        "abandoned, %llu finished, %llu read back; %llu recovered (%llu not yet acknowledged at "
        "the crash); %llu segment files cut\n",
        static_cast<unsigned long long>(totals.rounds),
        static_cast<unsigned long long>(totals.committed),
        static_cast<unsigned long long>(totals.bytes_fed >> 20),
        static_cast<unsigned long long>(totals.acknowledged),
        static_cast<unsigned long long>(totals.abandoned),
        static_cast<unsigned long long>(totals.finished),
        static_cast<unsigned long long>(totals.read_backs),
        static_cast<unsigned long long>(totals.recovered),
        static_cast<unsigned long long>(totals.recovered_unacknowledged),
        static_cast<unsigned long long>(totals.files_cut));
    EXPECT_TRUE(trouble.empty()) << "seed " << seed << ": " << trouble;
    if (trouble.empty()) {
        fs::remove_all(pattern);
    } else {
        std::printf("spool model: the folder is kept for inspection: %s\n", pattern);
    }
}

}  // namespace
}  // namespace relay::spool
