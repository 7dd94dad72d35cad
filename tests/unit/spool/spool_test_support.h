// spool_test_support.h -- what the spool's tests share: running a worker's loop until a
// condition holds, reading a message back through a body reader, and checking a recovery.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "relay/engine/reactor.h"
#include "relay/spool/body_reader.h"
#include "relay/spool/recovery.h"
#include "relay/spool/worker_spool.h"

namespace relay::spool::testing {

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
