// Receiving a message in place: the kernel writes each received buffer straight into the chunk
// the spool is filling (Incoming::receiving_space), the message pass reads it there and hands
// its runs back to the same Incoming. Stuffed dots make gaps, bytes the pass holds at a buffer's
// end (CR, '.', '.' CR) are stored later as constants: whatever the splits, the stored message
// must be exactly the unstuffed one, as when every buffer is copied.
#include <gtest/gtest.h>

#include <random>

#include "relay/engine/reactor.h"
#include "relay/message/message_pass.h"
#include "relay/spool/body_reader.h"
#include "relay/spool/recovery.h"
#include "relay/spool/worker_spool.h"
#include "spool_test_support.h"

namespace relay::spool {
namespace {

class InPlaceReceive : public testing::SpoolFixture {
  protected:
    void SetUp() override {
        SpoolFixture::SetUp();
        use_reactor(engine::ReactorOptions{64, 4, 4096});
        SpoolOptions options{segments(), 1 << 20, 4096, 0};
        spool_ = std::make_unique<WorkerSpool>(*reactor_, 0, options, sequence_, 0);
        ASSERT_TRUE(spool_->open({}, {}));
    }

    std::string commit_and_read(std::unique_ptr<WorkerSpool::Incoming> incoming) {
        QueuedMessage message;
        message.recipients.push_back(Recipient{"r@example.net"});
        std::optional<Result<QueueId>> queued;
        spool_->commit(std::move(incoming), std::move(message),
                       [&](Result<QueueId> result) { queued.emplace(std::move(result)); });
        testing::run_until(*reactor_, [&] { return queued.has_value(); });
        EXPECT_TRUE(queued->ok());
        auto reader = spool_->open_body(queued->value(), 3000);
        testing::ReadBack read = testing::read_all(*reactor_, *reader);
        EXPECT_FALSE(read.failure.has_value());
        spool_->finish(queued->value());
        return read.bytes;
    }

    // Feeds `wire` as a client would send it, each buffer received in place when the Incoming
    // offers room (else into a buffer of its own, as a provided buffer), in random sizes.
    std::string receive(std::mt19937& random, const std::string& wire, bool dot_stuffed,
                        std::size_t* in_place_buffers) {
        message::PassLimits limits;
        limits.require_valid_utf8 = false;
        message::MessagePass pass(limits);
        pass.start(dot_stuffed);
        auto incoming = spool_->begin_message(1 << 30);  // whole chunks from the start
        std::size_t offset = 0;
        std::string elsewhere;
        while (offset < wire.size()) {
            std::size_t wanted = 1 + random() % (random() % 4 == 0 ? 9000 : 40);
            StagingSpace space = incoming->receiving_space(pass.held_input_bytes());
            std::span<char> buffer;
            if (!space.bytes.empty() && random() % 5 != 0) {
                buffer =
                    space.bytes.first(std::min({wanted, space.bytes.size(), wire.size() - offset}));
                ++*in_place_buffers;
            } else {
                elsewhere.assign(std::min(wanted, wire.size() - offset), '\0');
                buffer = std::span<char>(elsewhere.data(), elsewhere.size());
            }
            std::copy_n(wire.data() + offset, buffer.size(), buffer.data());  // "the kernel"
            if (dot_stuffed) {
                auto fed = pass.feed_dot_stuffed(buffer, *incoming, nullptr);
                offset += fed.consumed;
                if (fed.finished) {
                    break;
                }
            } else {
                pass.feed_chunk(buffer, *incoming, nullptr);
                offset += buffer.size();
            }
        }
        if (!dot_stuffed) {
            pass.finish_chunks(*incoming, nullptr);
        }
        EXPECT_EQ(pass.outcome().verdict, message::Verdict::accepted);
        return commit_and_read(std::move(incoming));
    }

    static std::string random_message(std::mt19937& random) {
        std::string message = "Subject: in place\r\n\r\n";
        std::size_t lines = random() % 400;
        for (std::size_t line = 0; line < lines; ++line) {
            switch (random() % 6) {
                case 0:
                    message += ".";  // stuffed on the wire
                    break;
                case 1:
                    message += "..";
                    break;
                default:
                    break;
            }
            std::size_t length = random() % (random() % 8 == 0 ? 900 : 60);
            for (std::size_t at = 0; at < length; ++at) {
                message.push_back(static_cast<char>('!' + random() % 90));
            }
            message += "\r\n";
        }
        return message;
    }

    static std::string stuff(const std::string& message) {
        std::string wire;
        bool line_start = true;
        for (char byte : message) {
            if (line_start && byte == '.') {
                wire.push_back('.');
            }
            wire.push_back(byte);
            line_start = byte == '\n';
        }
        return wire + ".\r\n";
    }
};

TEST_F(InPlaceReceive, DataIsStoredExactlyWhateverTheSplits) {
    std::mt19937 random(20261201);
    std::size_t in_place = 0;
    for (int round = 0; round < 300; ++round) {
        std::string message = random_message(random);
        std::string stored = receive(random, stuff(message) + "QUIT\r\n", true, &in_place);
        ASSERT_EQ(stored, message) << "round " << round;
    }
    EXPECT_GT(in_place, 1000u);  // the in-place path was taken, often
}

TEST_F(InPlaceReceive, BdatIsStoredExactlyWhateverTheSplits) {
    std::mt19937 random(7);
    std::size_t in_place = 0;
    for (int round = 0; round < 300; ++round) {
        std::string message = random_message(random);
        std::string stored = receive(random, message, false, &in_place);
        ASSERT_EQ(stored, message) << "round " << round;
    }
    EXPECT_GT(in_place, 1000u);
}

}  // namespace
}  // namespace relay::spool
