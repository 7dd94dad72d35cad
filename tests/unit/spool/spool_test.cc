// The spool on a real io_uring and a real file system: what was committed is recovered intact,
// what was damaged is never served, finished messages free their segments.
#include <gtest/gtest.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>

#include "relay/engine/reactor.h"
#include "relay/spool/body_reader.h"
#include "relay/spool/recovery.h"
#include "relay/spool/worker_spool.h"
#include "spool_test_support.h"

namespace relay::spool {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public testing::SpoolFixture {
  protected:
    void open_spool(std::uint64_t segment_bytes_max = 64 << 20, std::uint32_t chunk_bytes = 1 << 20,
                    std::uint64_t cache_bytes_max = 64 << 20) {
        auto recovered = recover(segments(), false);
        ASSERT_TRUE(recovered);
        sequence_ = recovered->next_sequence;
        SpoolOptions options{segments(), segment_bytes_max, chunk_bytes, cache_bytes_max};
        spool_ = std::make_unique<WorkerSpool>(*reactor_, 0, options, sequence_,
                                               recovered->largest_queue_id);
        Status opened = spool_->open(recovered->segments, std::move(recovered->messages));
        ASSERT_TRUE(opened) << opened.error().message;
    }

    void run_until(const std::function<bool()>& done) { testing::run_until(*reactor_, done); }

    // Commits a message and waits for its queue id.
    QueueId commit(const std::string& bytes,
                   const std::vector<std::string>& recipients = {"r@example.net"},
                   const std::string& resource = "") {
        auto incoming = spool_->begin_message(bytes.size());
        // Feed in uneven pieces, as the network would.
        std::size_t offset = 0;
        std::size_t step = 1 + bytes.size() / 7;
        while (offset < bytes.size()) {
            std::size_t take = std::min(step, bytes.size() - offset);
            incoming->append(std::string_view(bytes).substr(offset, take));
            offset += take;
        }
        QueuedMessage message;
        message.envelope.reverse_path = "s@example.com";
        message.envelope.received_unix_ms = 1'700'000'000'000;
        message.envelope.resource = resource;
        for (auto& recipient : recipients) {
            message.recipients.push_back(Recipient{recipient});
        }
        std::optional<Result<QueueId>> outcome;
        spool_->commit(std::move(incoming), std::move(message),
                       [&](Result<QueueId> result) { outcome.emplace(std::move(result)); });
        run_until([&] { return outcome.has_value(); });
        EXPECT_TRUE(outcome->ok());
        return outcome->ok() ? outcome->value() : 0;
    }

    // Reads a message back through a body reader, in pieces of `piece_bytes`.
    Result<std::string> read_back(QueueId id, std::size_t piece_bytes = 7'919) {
        auto reader = spool_->open_body(id, piece_bytes);
        if (!reader) {
            return Error{"no such message"};
        }
        testing::ReadBack read = testing::read_all(*reactor_, *reader);
        EXPECT_LE(read.largest_piece, piece_bytes);
        if (read.failure) {
            return *read.failure;
        }
        return read.bytes;
    }

    void flush() {
        bool flushed = false;
        spool_->flush([&](const Status&) { flushed = true; });
        run_until([&] { return flushed; });
    }

    std::vector<fs::path> segment_files() const {
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(segments())) {
            files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        return files;
    }

    static std::string make_bytes(std::size_t size, unsigned seed) {
        std::mt19937 random(seed);
        std::string bytes = "Subject: test " + std::to_string(seed) + "\r\n\r\n";
        while (bytes.size() < size) {
            bytes.push_back(static_cast<char>('a' + random() % 26));
            if (random() % 70 == 0) {
                bytes += "\r\n";
            }
        }
        bytes.resize(size);
        return bytes;
    }
};

TEST_F(SpoolTest, CommittedMessagesAreRecoveredByteIdentical) {
    open_spool(64 << 20, 64 << 10);
    std::map<QueueId, std::string> committed;
    for (unsigned index = 0; index < 40; ++index) {
        std::size_t size = index % 5 == 0 ? 300'000 : 1000 + index * 997;  // some multi-chunk
        std::string bytes = make_bytes(size, index);
        committed[commit(bytes, {"a@x.example", "b@y.example"})] = bytes;
    }
    spool_.reset();
    testing::expect_recovered(segments(), committed);
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    for (const RecoveredMessage& message : recovered->messages) {
        EXPECT_EQ(message.message.recipients.size(), 2u);
    }
}

TEST_F(SpoolTest, TornTailNeverServesDamagedData) {
    open_spool();
    std::map<QueueId, std::string> committed;
    for (unsigned index = 0; index < 20; ++index) {
        std::string bytes = make_bytes(5000 + index * 100, index);
        committed[commit(bytes)] = bytes;
    }
    spool_.reset();
    fs::path file = segment_files().front();
    std::string whole;
    {
        std::ifstream input(file, std::ios::binary);
        whole.assign(std::istreambuf_iterator<char>(input), {});
    }
    std::size_t previous_count = 0;
    for (std::size_t cut = 0; cut <= whole.size(); cut += 997) {
        {
            std::ofstream output(file, std::ios::binary | std::ios::trunc);
            output.write(whole.data(), static_cast<std::streamsize>(cut));
        }
        auto recovered = recover(segments(), false);
        ASSERT_TRUE(recovered);
        EXPECT_GE(recovered->messages.size(), previous_count) << "a longer file lost messages";
        previous_count = recovered->messages.size();
        for (const RecoveredMessage& message : recovered->messages) {
            auto bytes = read_message_bytes(segments(), message.message);
            ASSERT_TRUE(bytes);
            EXPECT_EQ(bytes.value(), committed.at(message.message.id));
        }
    }
    std::ofstream(file, std::ios::binary | std::ios::trunc)
        .write(whole.data(), static_cast<std::streamsize>(whole.size()));
    EXPECT_EQ(recover(segments(), false)->messages.size(), committed.size());
}

TEST_F(SpoolTest, DamagedChunkDiscardsOnlyThatMessage) {
    open_spool();
    std::vector<QueueId> ids;
    for (unsigned index = 0; index < 10; ++index) {
        ids.push_back(commit(make_bytes(20000, index)));
    }
    spool_.reset();
    fs::path file = segment_files().front();
    std::string whole;
    {
        std::ifstream input(file, std::ios::binary);
        whole.assign(std::istreambuf_iterator<char>(input), {});
    }
    // Inside the stored bytes of the fourth message.
    std::size_t middle = whole.find(make_bytes(20000, 3).substr(0, 200)) + 5000;
    ASSERT_LT(middle, whole.size());
    std::fstream data(file, std::ios::in | std::ios::out | std::ios::binary);
    data.seekg(static_cast<std::streamoff>(middle));
    char byte = 0;
    data.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x55);
    data.seekp(static_cast<std::streamoff>(middle));
    data.write(&byte, 1);
    data.close();
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    EXPECT_EQ(recovered->messages.size(), ids.size() - 1);
    EXPECT_EQ(recovered->discarded_messages, 1u);
    EXPECT_FALSE(recovered->problems.empty());
}

TEST_F(SpoolTest, OutcomesAndDeferralsAreRecovered) {
    open_spool();
    QueueId first = commit(make_bytes(3000, 1), {"a@x.example", "b@y.example"});
    QueueId second = commit(make_bytes(3000, 2));
    spool_->record_recipient(first, {0, RecipientStatus::delivered, "mx[192.0.2.1]:25", "250 ok"});
    spool_->record_deferral(first, {2, 1'800'000'000'000, "451 4.7.1 try later"});
    spool_->finish(second);
    flush();
    spool_.reset();
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), 1u);
    const QueuedMessage& message = recovered->messages.front().message;
    EXPECT_EQ(message.id, first);
    EXPECT_EQ(message.recipients[0].status, RecipientStatus::delivered);
    EXPECT_EQ(message.recipients[1].status, RecipientStatus::pending);
    EXPECT_EQ(message.attempts, 2u);
    EXPECT_EQ(message.last_error, "451 4.7.1 try later");
}

// Nobody waits for outcome records, so they get no commit of their own: they still reach the
// disk within a few milliseconds, with no later commit to carry them.
TEST_F(SpoolTest, OutcomesReachTheDiskWithoutACommitAfterThem) {
    open_spool();
    QueueId first = commit(make_bytes(3000, 1), {"a@x.example", "b@y.example"});
    QueueId second = commit(make_bytes(3000, 2));
    spool_->record_recipient(first, {0, RecipientStatus::delivered, "mx[192.0.2.1]:25", "250 ok"});
    spool_->finish(second);
    auto until = engine::Clock::now() + std::chrono::milliseconds(50);
    run_until([&] { return engine::Clock::now() >= until; });
    spool_.reset();
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), 1u);
    EXPECT_EQ(recovered->messages.front().message.id, first);
    EXPECT_EQ(recovered->messages.front().message.recipients[0].status, RecipientStatus::delivered);
}

// Signed messages come back from the signing threads one by one: a commit made while another
// is expected waits for it, so that both share one batch, but never longer than the bound.
TEST_F(SpoolTest, ACommitWaitsForAnExpectedOneAndSharesItsBatch) {
    open_spool();
    QueuedMessage message;
    message.envelope.reverse_path = "s@example.com";
    message.recipients.push_back(Recipient{"r@example.net"});
    auto begin = [&](unsigned seed) {
        auto incoming = spool_->begin_message(3000);
        incoming->append(make_bytes(3000, seed));
        return incoming;
    };
    std::optional<Result<QueueId>> first;
    std::optional<Result<QueueId>> second;
    bool second_committed = false;
    bool first_before_second_committed = false;
    spool_->expect_commit();  // the second message, being signed
    spool_->commit(begin(1), message, [&](Result<QueueId> result) {
        first.emplace(std::move(result));
        first_before_second_committed = !second_committed;
    });
    reactor_->timers().add(reactor_->now() + std::chrono::microseconds(300), [&] {
        spool_->commit(begin(2), message,
                       [&](Result<QueueId> result) { second.emplace(std::move(result)); });
        second_committed = true;
        spool_->end_expected_commit();
    });
    run_until([&] { return first.has_value() && second.has_value(); });
    ASSERT_TRUE(first->ok() && second->ok());
    EXPECT_FALSE(first_before_second_committed);

    // An expected commit that never comes (its client left) holds the others back at most
    // commit_gather_wait.
    std::optional<Result<QueueId>> alone;
    spool_->expect_commit();
    auto started = engine::Clock::now();
    spool_->commit(begin(3), message,
                   [&](Result<QueueId> result) { alone.emplace(std::move(result)); });
    run_until([&] { return alone.has_value(); });
    auto waited = engine::Clock::now() - started;
    spool_->end_expected_commit();
    ASSERT_TRUE(alone->ok());
    EXPECT_GE(waited, SpoolWriter::commit_gather_wait);
    EXPECT_LT(waited, std::chrono::seconds(1));
}

TEST_F(SpoolTest, FinishedMessagesFreeTheirSegments) {
    open_spool(1 << 20, 64 << 10);
    std::vector<QueueId> ids;
    for (unsigned index = 0; index < 100; ++index) {
        ids.push_back(commit(make_bytes(50'000, index)));
    }
    EXPECT_GE(segment_files().size(), 4u);
    for (QueueId id : ids) {
        spool_->finish(id);
    }
    flush();
    run_until([&] { return segment_files().size() <= 2; });  // the active one (and a spare)
    spool_.reset();
    EXPECT_TRUE(recover(segments(), false)->messages.empty());
}

TEST_F(SpoolTest, CompactionCopiesALongLivedMessageForward) {
    open_spool(1 << 20, 64 << 10);
    std::string kept = make_bytes(40'000, 999);
    QueueId survivor = commit(kept, {"a@x.example", "b@y.example"}, "acme/newsletter");
    spool_->record_recipient(survivor, {0, RecipientStatus::delivered, "mx", "250 ok"});
    std::vector<QueueId> others;
    for (unsigned index = 0; index < 60; ++index) {
        others.push_back(commit(make_bytes(50'000, index)));
    }
    for (QueueId id : others) {
        spool_->finish(id);
    }
    flush();
    fs::path oldest = segment_files().front();
    ASSERT_TRUE(fs::exists(oldest));  // pinned by the survivor
    spool_->compact();
    run_until([&] { return !fs::exists(oldest); });
    flush();
    spool_.reset();
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), 1u);
    const QueuedMessage& message = recovered->messages.front().message;
    EXPECT_EQ(message.id, survivor);
    EXPECT_EQ(message.envelope.resource, "acme/newsletter");  // the copy carries it
    EXPECT_EQ(message.recipients[0].status, RecipientStatus::delivered);
    EXPECT_EQ(read_message_bytes(segments(), message).value(), kept);
}

TEST_F(SpoolTest, BodiesAreReadBackFromDiskWhenNotCached) {
    open_spool(64 << 20, 64 << 10, 0);
    std::string bytes = make_bytes(200'000, 5);
    QueueId id = commit(bytes);
    auto body = read_back(id);
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(body.value(), bytes);
}

// A message of several chunks whose chunks straddle segment rollovers: the sealed segments
// holding its first chunks must live until it is committed (they were deleted while the
// message was still arriving, so the 250 was followed by "a segment of message X is gone").
TEST_F(SpoolTest, MultiChunkMessageAcrossSegmentRolloversIsKept) {
    open_spool(64 << 10, 16 << 10, 0);
    std::map<QueueId, std::string> committed;
    for (unsigned index = 0; index < 4; ++index) {
        std::string bytes = make_bytes(300'000 + index * 7'777, 40 + index);
        committed[commit(bytes)] = bytes;
    }
    for (const auto& [id, bytes] : committed) {
        auto body = read_back(id);
        ASSERT_TRUE(body) << body.error().message;
        EXPECT_EQ(body.value(), bytes);
    }
    spool_.reset();
    testing::expect_recovered(segments(), committed);
}

// A session whose 250 arrives with its next message already buffered appends that message's
// first chunks (and asks for a flush) from inside the commit callback, while the writer is
// still finishing the batch: the writer must not start a second batch on top of it.
TEST_F(SpoolTest, AppendingFromACommitCallbackDoesNotStartASecondBatch) {
    open_spool(64 << 20, 16 << 10);
    std::string first = make_bytes(40'000, 1);
    std::string second = make_bytes(40'000, 2);
    std::unique_ptr<WorkerSpool::Incoming> next;
    auto incoming = spool_->begin_message(first.size());
    incoming->append(first);
    QueuedMessage message;
    message.envelope.reverse_path = "s@example.com";
    message.recipients.push_back(Recipient{"r@example.net"});
    std::optional<Result<QueueId>> first_id;
    std::optional<Result<QueueId>> second_id;
    spool_->commit(std::move(incoming), message, [&](Result<QueueId> result) {
        first_id.emplace(std::move(result));
        next = spool_->begin_message(second.size());
        next->append(second);  // more than a chunk: written (and flushed) at once
    });
    run_until([&] { return first_id.has_value(); });
    ASSERT_TRUE(first_id->ok());
    spool_->commit(std::move(next), message,
                   [&](Result<QueueId> result) { second_id.emplace(std::move(result)); });
    run_until([&] { return second_id.has_value(); });
    ASSERT_TRUE(second_id->ok()) << second_id->error().message;
    spool_.reset();
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), 2u);
    for (const RecoveredMessage& recovered_message : recovered->messages) {
        auto bytes = read_message_bytes(segments(), recovered_message.message);
        ASSERT_TRUE(bytes) << bytes.error().message;
        EXPECT_EQ(bytes.value(),
                  recovered_message.message.id == first_id->value() ? first : second);
    }
}

// io_uring links do not span submissions. A group commit is a linked writev -> fdatasync
// chain: when the submission queue fills up in the middle of it, the queue must be submitted
// before the chain (not in its middle), or the fdatasync no longer waits for the writes and a
// 250 can go out before the bytes are on disk.
TEST_F(SpoolTest, GroupCommitChainIsNeverCutByAFullSubmissionQueue) {
    use_reactor(engine::ReactorOptions{4, 4, 4096});
    open_spool();
    io_uring* ring = reactor_->ring();
    for (unsigned filler = 0; filler < 8; ++filler) {
        // Leave one free entry: the chain's first entry fits, its fdatasync does not.
        reactor_->reserve(1);
        while (io_uring_sq_space_left(ring) > 1) {
            io_uring_prep_nop(reactor_->prepare_detached());
        }
        auto incoming = spool_->begin_message(1000);
        incoming->append(make_bytes(1000, filler));
        QueuedMessage message;
        message.recipients.push_back(Recipient{"r@example.net"});
        std::optional<Result<QueueId>> outcome;
        spool_->commit(std::move(incoming), std::move(message),
                       [&](Result<QueueId> result) { outcome.emplace(std::move(result)); });
        // Nothing submitted yet may end with a link: that link would lead into entries the
        // kernel has not seen (a chain cut in two).
        unsigned mask = *ring->sq.kring_mask;
        const io_uring_sqe& last_submitted = ring->sq.sqes[(ring->sq.sqe_head - 1) & mask];
        EXPECT_EQ(last_submitted.flags & IOSQE_IO_LINK, 0) << "a linked chain was cut";
        // The sync (an fdatasync, or the batch's single write made with RWF_DSYNC) is queued.
        bool saw_sync = false;
        for (unsigned at = ring->sq.sqe_head; at != ring->sq.sqe_tail; ++at) {
            const io_uring_sqe& entry = ring->sq.sqes[at & mask];
            saw_sync = saw_sync || entry.opcode == IORING_OP_FSYNC ||
                       (entry.opcode == IORING_OP_WRITEV && (entry.rw_flags & RWF_DSYNC) != 0);
        }
        EXPECT_TRUE(saw_sync);
        run_until([&] { return outcome.has_value(); });
        ASSERT_TRUE(outcome->ok());
    }
    spool_.reset();
    EXPECT_EQ(recover(segments(), false)->messages.size(), 8u);
}

// A reader hands out verified pieces, whatever their size, and a damaged chunk stops it with
// an error before the message is complete: a consumer never gets a whole damaged message.
TEST_F(SpoolTest, BodyReaderVerifiesEveryChunkAndTheWholeBody) {
    open_spool(64 << 20, 16 << 10, 0);
    std::string bytes = make_bytes(100'000, 8);
    QueueId id = commit(bytes);
    for (std::size_t piece : {1ul, 7ul, 4096ul, 16384ul, 65536ul, 1ul << 20}) {
        auto read = read_back(id, piece);
        ASSERT_TRUE(read) << read.error().message;
        EXPECT_EQ(read.value(), bytes) << piece;
    }
    // Damage one byte in the fifth chunk's payload, under the running spool.
    const ChunkRef chunk = spool_->find(id)->envelope.chunks.at(4);
    fs::path file = segment_files().back();
    for (const fs::path& candidate : segment_files()) {
        if (std::stoull(candidate.stem().string(), nullptr, 16) == chunk.segment) {
            file = candidate;
        }
    }
    {
        std::fstream data(file, std::ios::in | std::ios::out | std::ios::binary);
        data.seekp(static_cast<std::streamoff>(chunk.offset + record_header_bytes + 100));
        data.put('#');
    }
    auto reader = spool_->open_body(id, 4096);
    testing::ReadBack read = testing::read_all(*reactor_, *reader);
    ASSERT_TRUE(read.failure.has_value()) << "a damaged message was read to its end";
    EXPECT_NE(read.failure->message.find("damaged"), std::string::npos) << read.failure->message;
    EXPECT_LT(read.bytes.size(), bytes.size());
    EXPECT_LE(read.bytes.size(), 5u * (16 << 10));  // nothing past the damaged chunk
}

TEST_F(SpoolTest, RecoveredMessagesKeepWorkingAfterRestart) {
    open_spool();
    std::string bytes = make_bytes(10'000, 3);
    QueueId id = commit(bytes);
    spool_.reset();
    open_spool();
    ASSERT_NE(spool_->find(id), nullptr);
    auto body = read_back(id);
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(body.value(), bytes);
    QueueId next = commit(make_bytes(100, 4));
    EXPECT_GT(next, id);
}

TEST_F(SpoolTest, EachMessageKeepsItsResourceAcrossACrash) {
    open_spool(1 << 20, 64 << 10);
    std::mt19937 random(21);
    std::map<QueueId, std::string> resources;
    for (unsigned index = 0; index < 40; ++index) {
        // Empty (accepted without AUTH) and every length class up to the bound.
        std::string resource(random() % (resource_bytes_max + 1), 'x');
        for (char& c : resource) {
            c = static_cast<char>('a' + random() % 26);
        }
        if (index % 5 == 0) {
            resource.clear();
        }
        resources[commit(make_bytes(1'000 + index * 997, index), {"r@example.net"}, resource)] =
            resource;
    }
    // No shutdown: what a 250 promised must be on disk as the spool left it.
    spool_.reset();
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), resources.size());
    for (const RecoveredMessage& message : recovered->messages) {
        EXPECT_EQ(message.message.envelope.resource, resources.at(message.message.id));
    }
}

// Writes a segment byte for byte as the previous build did (no resource tag) and recovers it.
TEST_F(SpoolTest, ASegmentOfThePreviousFormatRecoversWithAnEmptyResource) {
    auto field = [](std::string& out, std::uint16_t tag, std::string_view value) {
        out.push_back(static_cast<char>(tag & 0xFF));
        out.push_back(static_cast<char>(tag >> 8));
        for (int shift = 0; shift < 32; shift += 8) {
            out.push_back(static_cast<char>((value.size() >> shift) & 0xFF));
        }
        out.append(value);
    };
    auto number = [](std::uint64_t value) {
        std::string out;
        for (int shift = 0; shift < 64; shift += 8) {
            out.push_back(static_cast<char>((value >> shift) & 0xFF));
        }
        return out;
    };
    const std::string body = "Subject: old\r\n\r\nwritten before resources\r\n";
    const QueueId id = 0x0194F2A1B2C3D4E5;
    std::string header;
    field(header, 1, number(1));  // format version
    field(header, 2, number(0));  // worker
    field(header, 3, number(1));  // sequence
    field(header, 4, number(1'700'000'000'000));
    std::string segment;
    append_record(segment, RecordType::segment_header, 0, header);
    std::uint64_t chunk_offset = segment.size();
    append_record(segment, RecordType::body_chunk, id, body);
    std::string chunk = number(1) + number(chunk_offset) + number(body.size());
    std::string payload;
    field(payload, 1, "old@example.com");
    field(payload, 2, "r@example.net");
    field(payload, 3, number(0));
    field(payload, 4, number(1'700'000'000'123));
    field(payload, 5, "192.0.2.7");
    field(payload, 6, "client.example.com");
    field(payload, 7, "ESMTP");
    field(payload, 8, "submission");
    field(payload, 16, number(0));
    field(payload, 9, number(body.size()));
    field(payload, 10, number(XXH3_64bits(body.data(), body.size())));
    field(payload, 17, number(16));
    field(payload, 11, chunk);
    append_record(segment, RecordType::message, id, payload);
    {
        std::ofstream file(fs::path(segments()) / "0000000000000001.seg", std::ios::binary);
        file.write(segment.data(), static_cast<std::streamsize>(segment.size()));
    }
    auto recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), 1u);
    const QueuedMessage& message = recovered->messages.front().message;
    EXPECT_EQ(message.id, id);
    EXPECT_EQ(message.envelope.resource, "");
    EXPECT_EQ(message.envelope.reverse_path, "old@example.com");
    EXPECT_EQ(read_message_bytes(segments(), message).value(), body);
    // And this build goes on using that spool.
    open_spool();
    ASSERT_NE(spool_->find(id), nullptr);
    EXPECT_EQ(read_back(id).value(), body);
    QueueId next = commit(make_bytes(100, 4), {"r@example.net"}, "acme/main");
    spool_.reset();
    recovered = recover(segments(), false);
    ASSERT_TRUE(recovered);
    ASSERT_EQ(recovered->messages.size(), 2u);
    for (const RecoveredMessage& each : recovered->messages) {
        EXPECT_EQ(each.message.envelope.resource, each.message.id == next ? "acme/main" : "");
    }
}

}  // namespace
}  // namespace relay::spool
