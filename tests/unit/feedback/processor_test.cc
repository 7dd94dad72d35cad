// processor_test.cc -- the bounce processor on a real tenant store, without sockets: reports
// handed over from several threads at once are each answered once, after their stop-list
// entries are committed; a complaint finds its message through the Message-ID index fed by
// sent(); an unreadable report is kept within the folder's bound; a stopped processor refuses.
#include "relay/feedback/processor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "relay/bounce/verp.h"
#include "relay/store/lmdb_tenant_store.h"

namespace relay::feedback {
namespace {

const std::string key(32, 'k');

std::string verp_for(spool::QueueId id, std::string_view recipient) {
    bounce::VerpMessage message;
    message.queue_id = id;
    message.resource = "acme/main";
    message.recipient = recipient;
    return bounce::verp_address(key, message, "bounces.example.net").value();
}

std::string dsn(std::string_view recipient) {
    return "From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           "--B\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n"
           "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
           "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; " +
           std::string(recipient) +
           "\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n"
           "\r\n--B--\r\n";
}

class ProcessorTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-processor-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        auto store = store::open_lmdb_tenant_store({(root_ / "store").string(), 64ull << 20});
        ASSERT_TRUE(store) << store.error().message;
        store_ = std::move(store.value());
        ASSERT_TRUE(store_->add_project("acme", {}));
        ASSERT_TRUE(store_->add_resource("acme/main", "hash"));
        snapshots_ = std::make_unique<policy::TenantSnapshots>(*store_);
        ASSERT_TRUE(snapshots_->refresh());
    }
    void TearDown() override {
        processor_.reset();
        snapshots_.reset();
        store_.reset();
        std::filesystem::remove_all(root_);
    }
    void start(config::Bounces bounces = {}) {
        ProcessorOptions options;
        options.bounces = bounces;
        options.return_path.bounce_domain = "bounces.example.net";
        options.return_path.key = key;
        options.unparsed_folder = (root_ / "unparsed").string();
        auto processor = Processor::start(*store_, *snapshots_, counter_, options);
        ASSERT_TRUE(processor) << processor.error().message;
        processor_ = std::move(processor.value());
    }
    // Submits and waits for the answer.
    Status handle(ReceivedReport report) {
        auto answered = std::make_shared<std::promise<Status>>();
        auto answer = answered->get_future();
        EXPECT_TRUE(processor_->submit(std::move(report),
                                       [answered](Status status) { answered->set_value(status); }));
        EXPECT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
        return answer.get();
    }
    std::string listed(std::string_view address) {
        auto found = store_->stop_lists().find_stop("acme/main", address, 2'000'000'000);
        EXPECT_TRUE(found);
        if (!found || !found.value()) {
            return "-";
        }
        return std::string(store::stop_reason_name(found.value()->reason));
    }

    std::filesystem::path root_;
    std::unique_ptr<store::TenantStore> store_;
    std::unique_ptr<policy::TenantSnapshots> snapshots_;
    stats::WorkerCounter counter_;
    std::unique_ptr<Processor> processor_;
};

TEST_F(ProcessorTest, ReportsFromManyThreadsAreEachAnsweredOnceAfterTheirEntriesAreWritten) {
    start();
    constexpr int threads = 4;
    constexpr int per_thread = 25;
    std::atomic<int> answered{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> senders;
    for (int thread = 0; thread < threads; ++thread) {
        senders.emplace_back([&, thread] {
            for (int index = 0; index < per_thread; ++index) {
                std::string recipient =
                    "r" + std::to_string(thread) + "-" + std::to_string(index) + "@example.com";
                ReceivedReport report;
                report.bytes = dsn(recipient);
                report.recipients = {verp_for(static_cast<spool::QueueId>(index + 1), recipient)};
                report.client_ip = "192.0.2.1";
                while (!processor_->submit(std::move(report), [&](Status status) {
                    ++answered;
                    if (!status) {
                        ++failed;
                    }
                })) {
                    std::this_thread::yield();  // the queue is bounded; never with this load
                }
            }
        });
    }
    for (std::thread& sender : senders) {
        sender.join();
    }
    processor_->stop();  // handles what is queued first
    EXPECT_EQ(answered.load(), threads * per_thread);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(listed("r0-0@example.com"), "hard_bounce");
    EXPECT_EQ(listed("r3-24@example.com"), "hard_bounce");
    std::vector<store::StatsDelta> deltas;
    counter_.drain(deltas);
    std::uint64_t hard = 0;
    std::uint64_t stopped = 0;
    for (const store::StatsDelta& delta : deltas) {
        if (delta.scope.kind == store::StatsScopeKind::resource &&
            delta.scope.name == "acme/main") {
            hard += delta.counts[static_cast<std::size_t>(store::StatsCounter::bounced_hard)];
            stopped += delta.counts[static_cast<std::size_t>(store::StatsCounter::stop_listed)];
        }
    }
    EXPECT_EQ(hard, 100u);
    EXPECT_EQ(stopped, 100u);
}

TEST_F(ProcessorTest, AComplaintWithoutTokenFindsItsMessageThroughTheIndex) {
    start();
    store::SentMessage sent;
    sent.message_id = "<m1@acme.example>";
    sent.queue_id = 7;
    sent.resource = "acme/main";
    sent.sender_domain = "acme.example";
    sent.recipients = {"bob@example.com"};
    sent.sent_s = 1'800'000'000;
    processor_->sent(sent);
    ReceivedReport report;
    report.bytes =
        "From: fbl@isp.example\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n"
        "--F\r\nContent-Type: text/plain\r\n\r\nSpam.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
        "Version: 1\r\n\r\n--F\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "Message-ID: <m1@acme.example>\r\nTo: bob@example.com\r\n\r\n--F--\r\n";
    report.recipients = {"complaints@bounces.example.net"};
    // The index is written with the batch the report comes in, before the report is read.
    ASSERT_TRUE(handle(report));
    EXPECT_EQ(listed("bob@example.com"), "complaint");
}

TEST_F(ProcessorTest, AnEntryForARemovedResourceFailsAloneInItsBatch) {
    ASSERT_TRUE(store_->add_project("other", {}));
    ASSERT_TRUE(store_->add_resource("other/gone", "hash"));
    ASSERT_TRUE(snapshots_->refresh());
    ASSERT_TRUE(store_->remove_resource("other/gone"));  // the snapshot still has it
    start();
    auto make = [](std::string_view resource, const std::string& recipient) {
        bounce::VerpMessage message;
        message.queue_id = 9;
        message.resource = resource;
        message.recipient = recipient;
        ReceivedReport report;
        report.bytes = dsn(recipient);
        report.recipients = {bounce::verp_address(key, message, "bounces.example.net").value()};
        return report;
    };
    // Submitted faster than the thread commits, most of them share a batch with the one whose
    // resource is gone; whichever batch it lands in, only its own report fails.
    std::vector<std::future<Status>> answers;
    for (int index = 0; index < 21; ++index) {
        auto promise = std::make_shared<std::promise<Status>>();
        answers.push_back(promise->get_future());
        ReceivedReport report =
            index == 10 ? make("other/gone", "x@example.com")
                        : make("acme/main", "y" + std::to_string(index) + "@example.com");
        ASSERT_TRUE(processor_->submit(std::move(report),
                                       [promise](Status status) { promise->set_value(status); }));
    }
    for (int index = 0; index < 21; ++index) {
        EXPECT_EQ(static_cast<bool>(answers[static_cast<std::size_t>(index)].get()), index != 10)
            << index;
    }
    EXPECT_EQ(listed("y0@example.com"), "hard_bounce");
    EXPECT_EQ(listed("y20@example.com"), "hard_bounce");
}

TEST_F(ProcessorTest, UnreadableReportsAreKeptWithinTheBoundAndAStoppedProcessorRefuses) {
    config::Bounces bounces;
    bounces.unparsed_files_max = 2;
    start(bounces);
    for (int index = 0; index < 3; ++index) {
        ReceivedReport report;
        report.bytes = "Subject: hi\r\n\r\nnothing to see " + std::to_string(index) + "\r\n";
        report.recipients = {"postmaster@bounces.example.net"};
        ASSERT_TRUE(handle(report));
    }
    std::vector<std::string> kept;
    for (const auto& entry : std::filesystem::directory_iterator(root_ / "unparsed")) {
        kept.push_back(entry.path().filename().string());
    }
    EXPECT_EQ(kept.size(), 2u);
    processor_->stop();
    EXPECT_FALSE(processor_->submit(ReceivedReport{}, [](Status) {}));
}

}  // namespace
}  // namespace relay::feedback
