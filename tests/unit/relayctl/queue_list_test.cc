// `relayctl queue list|show` on a spool whose messages name the resource that sent them: the
// column, the --resource and --domain filters, --json. The spool is written through the spool
// API (as ingress does after AUTH) and read by the real relayctl binary ($RELAYCTL).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "relay/spool/recovery.h"
#include "spool_test_support.h"

namespace relay::spool {
namespace {

struct Output {
    int status = -1;
    std::string out;
};

class QueueListTest : public testing::SpoolFixture {
  protected:
    void SetUp() override {
        SpoolFixture::SetUp();
        std::ofstream config(root_ / "relayd.toml");
        config << "[server]\nhostname = \"relay.test\"\nworkers = 1\n\n"
               << "[[listener]]\nname = \"test\"\naddress = \"127.0.0.1:2525\"\n\n"
               << "[spool]\npath = \"" << root_.string() << "\"\n";
        auto recovered = recover(segments(), false);
        ASSERT_TRUE(recovered);
        SpoolOptions options{segments(), 64 << 20, 1 << 20, 64 << 20};
        spool_ = std::make_unique<WorkerSpool>(*reactor_, 0, options, sequence_,
                                               recovered->largest_queue_id);
        Status opened = spool_->open(recovered->segments, std::move(recovered->messages));
        ASSERT_TRUE(opened) << opened.error().message;
    }

    QueueId commit(const std::string& resource, const std::string& recipient) {
        std::string bytes = "Subject: from " + resource + "\r\n\r\nbody\r\n";
        auto incoming = spool_->begin_message(bytes.size());
        incoming->append(bytes);
        QueuedMessage message;
        message.envelope.reverse_path = "sender@example.com";
        message.envelope.received_unix_ms = 1'700'000'000'000;
        message.envelope.resource = resource;
        message.recipients.push_back(Recipient{recipient});
        std::optional<Result<QueueId>> outcome;
        spool_->commit(std::move(incoming), std::move(message),
                       [&](Result<QueueId> result) { outcome.emplace(std::move(result)); });
        testing::run_until(*reactor_, [&] { return outcome.has_value(); });
        EXPECT_TRUE(outcome->ok());
        return outcome->ok() ? outcome->value() : 0;
    }

    Output relayctl(const std::string& arguments) {
        const char* program = std::getenv("RELAYCTL");
        EXPECT_NE(program, nullptr) << "RELAYCTL names the relayctl binary";
        std::string command = std::string(program ? program : "relayctl") + " --config " +
                              (root_ / "relayd.toml").string() + " " + arguments;
        Output run;
        FILE* pipe = ::popen(command.c_str(), "r");
        if (pipe == nullptr) {
            return run;
        }
        char buffer[4096];
        std::size_t got = 0;
        while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
            run.out.append(buffer, got);
        }
        int status = ::pclose(pipe);
        run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return run;
    }

    std::vector<std::string> listed_ids(const std::string& arguments) {
        Output run = relayctl("queue list --json " + arguments);
        EXPECT_EQ(run.status, 0) << run.out;
        std::vector<std::string> ids;
        for (const auto& message : nlohmann::json::parse(run.out, nullptr, false)) {
            ids.push_back(message.value("id", ""));
        }
        return ids;
    }
};

TEST_F(QueueListTest, ListShowsAndFiltersByResource) {
    std::string news = format_queue_id(commit("acme/newsletter", "a@one.example"));
    std::string billing = format_queue_id(commit("acme/billing", "b@two.example"));
    std::string anonymous = format_queue_id(commit("", "c@one.example"));
    spool_.reset();  // relayctl reads the segments as they are on disk

    Output all = relayctl("queue list --json");
    ASSERT_EQ(all.status, 0) << all.out;
    std::map<std::string, std::string> resource_of;
    for (const auto& message : nlohmann::json::parse(all.out)) {
        resource_of[message.value("id", "")] = message.value("resource", "?");
    }
    EXPECT_EQ(resource_of,
              (std::map<std::string, std::string>{
                  {news, "acme/newsletter"}, {billing, "acme/billing"}, {anonymous, ""}}));

    EXPECT_EQ(listed_ids("--resource acme/newsletter"), std::vector<std::string>{news});
    EXPECT_EQ(listed_ids("--resource ACME/Billing"), std::vector<std::string>{billing});
    EXPECT_TRUE(listed_ids("--resource acme/none").empty());
    EXPECT_EQ(listed_ids("--resource acme/newsletter --domain one.example"),
              std::vector<std::string>{news});
    EXPECT_TRUE(listed_ids("--resource acme/newsletter --domain two.example").empty());

    Output text = relayctl("queue list");
    ASSERT_EQ(text.status, 0);
    EXPECT_NE(text.out.find("RESOURCE"), std::string::npos) << text.out;
    for (const auto& [id, resource] : resource_of) {
        std::size_t line = text.out.find(id);
        ASSERT_NE(line, std::string::npos) << text.out;
        std::string row = text.out.substr(line, text.out.find('\n', line) - line);
        EXPECT_NE(row.find("  " + (resource.empty() ? "-" : resource) + " "), std::string::npos)
            << row;
    }
    EXPECT_NE(text.out.find("3 messages"), std::string::npos) << text.out;
    Output filtered = relayctl("queue list --resource acme/billing");
    EXPECT_NE(filtered.out.find(billing), std::string::npos);
    EXPECT_EQ(filtered.out.find(news), std::string::npos);
    EXPECT_NE(filtered.out.find("1 messages"), std::string::npos) << filtered.out;

    Output show = relayctl("queue show " + news);
    ASSERT_EQ(show.status, 0);
    EXPECT_NE(show.out.find("resource:     acme/newsletter\n"), std::string::npos) << show.out;
    show = relayctl("queue show " + anonymous);
    EXPECT_NE(show.out.find("resource:     -\n"), std::string::npos) << show.out;
    show = relayctl("queue show --json " + billing);
    EXPECT_EQ(nlohmann::json::parse(show.out).value("resource", "?"), "acme/billing");
}

}  // namespace
}  // namespace relay::spool
