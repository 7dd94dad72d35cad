// spool_test_support.h -- what the spool's tests share: running a worker's loop until a
// condition holds, reading a message back through a body reader, and checking a recovery.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "relay/engine/reactor.h"
#include "relay/spool/body_reader.h"
#include "relay/spool/recovery.h"
#include "relay/spool/worker_spool.h"

namespace relay::spool::testing {

// A fresh spool folder (with its segments/ folder) and a worker's reactor, removed after the
// test; the test opens `spool_` as it needs.
class SpoolFixture : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-spool-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        std::filesystem::create_directories(segments());
        use_reactor(engine::ReactorOptions{256, 16, 4096});
    }
    void TearDown() override {
        spool_.reset();
        reactor_.reset();
        // An unlink the ring had handed to a kernel worker may still finish after the ring is
        // closed: a file can vanish while remove_all walks the folder, so it tries again.
        std::error_code error;
        for (int attempt = 0; attempt < 100; ++attempt) {
            if (std::filesystem::remove_all(root_, error) != static_cast<std::uintmax_t>(-1) &&
                !error) {
                break;
            }
        }
    }

    // Replaces the reactor (and drops the spool that ran on it).
    void use_reactor(const engine::ReactorOptions& options) {
        spool_.reset();
        reactor_.reset();
        auto reactor = engine::Reactor::create(0, options);
        ASSERT_TRUE(reactor) << reactor.error().message;
        reactor_ = std::move(reactor.value());
    }

    std::string segments() const { return (root_ / "segments").string(); }

    std::filesystem::path root_;
    std::unique_ptr<engine::Reactor> reactor_;
    std::atomic<std::uint64_t> sequence_{1};
    std::unique_ptr<WorkerSpool> spool_;
};

// Runs the loop until `done` holds; fails the test after 10 s.
inline void run_until(engine::Reactor& reactor, const std::function<bool()>& done) {
    auto deadline = engine::Clock::now() + std::chrono::seconds(10);
    std::function<void()> check = [&] {
        if (done() || engine::Clock::now() > deadline) {
            reactor.stop();
            return;
        }
        reactor.timers().add(reactor.now() + std::chrono::milliseconds(1), check);
    };
    reactor.defer(check);
    reactor.run();
    ASSERT_TRUE(done()) << "condition not reached in time";
}

// What a reader gave until its end or its first error.
struct ReadBack {
    std::string bytes;
    std::optional<Error> failure;
    std::size_t largest_piece = 0;
};

inline ReadBack read_all(engine::Reactor& reactor, WorkerSpool::BodyReader& reader) {
    ReadBack result;
    while (!reader.at_end() && !result.failure) {
        bool got = false;
        reader.read([&](Result<BodyPiece> piece) {
            got = true;
            if (!piece) {
                result.failure = piece.error();
                return;
            }
            result.bytes.append(piece.value().bytes);
            result.largest_piece = std::max(result.largest_piece, piece.value().bytes.size());
        });
        run_until(reactor, [&] { return got; });
    }
    return result;
}

// The folder recovers exactly `committed` (queue id to stored bytes), each byte-identical.
inline void expect_recovered(const std::string& segments_folder,
                             const std::map<QueueId, std::string>& committed) {
    auto recovered = recover(segments_folder, false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), committed.size());
    for (const RecoveredMessage& message : recovered->messages) {
        auto bytes = read_message_bytes(segments_folder, message.message);
        ASSERT_TRUE(bytes) << bytes.error().message;
        EXPECT_EQ(bytes.value(), committed.at(message.message.id));
    }
}

}  // namespace relay::spool::testing
