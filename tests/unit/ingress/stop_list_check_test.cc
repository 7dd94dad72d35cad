// The session's stop-list decisions over a real store: exclude refuses at RCPT with the
// recipient named, reject_message accepts and refuses at DATA naming the first five listed
// recipients and counting the rest, each transaction starts a new list, and without a store or
// a login only what applies is checked.
#include "stop_list_check.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "relay/store/lmdb_tenant_store.h"

namespace relay::ingress::internal {
namespace {

class StopListCheckTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-stop-check-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        auto store = store::open_lmdb_tenant_store({(root_ / "store").string(), 64ull << 20});
        ASSERT_TRUE(store);
        store_ = std::move(store.value());
        ASSERT_TRUE(store_->add_project("acme", {}));
        ASSERT_TRUE(store_->add_resource("acme/main", "hash"));
        reader_ = std::move(store_->stop_lists().reader().value());
    }
    void TearDown() override {
        reader_.reset();
        store_.reset();
        std::filesystem::remove_all(root_);
    }
    void list(const std::string& scope, const std::string& address) {
        ASSERT_TRUE(store_->stop_lists().add_stop(store::StopEntry{
            scope, store::parse_stop_address(address).value(), store::StopReason::manual, 1, 0}));
    }
    std::shared_ptr<const policy::TenantSnapshot> snapshot() {
        return policy::TenantSnapshot::build(store_->load().value());
    }
    // RCPT through `check`, as the session does: an accepted recipient joins the transaction.
    std::string rcpt(StopListCheck& check, const std::string& username,
                     const std::string& recipient) {
        smtp::Verdict verdict =
            check.check_recipient(transaction_, username, snapshot_.get(), recipient, "client");
        if (verdict.refusal()) {
            const smtp::PolicyReply& reply = *verdict.refusal();
            return std::to_string(reply.code) + " " + reply.enhanced + " " + reply.text;
        }
        transaction_.recipients.push_back(recipient);
        return "250";
    }
    std::string data(StopListCheck& check) {
        auto refusal = check.check_data(transaction_, "acme/main", "client");
        return refusal
                   ? std::to_string(refusal->code) + " " + refusal->enhanced + " " + refusal->text
                   : "354";
    }

    std::filesystem::path root_;
    std::unique_ptr<store::TenantStore> store_;
    std::unique_ptr<store::StopListReader> reader_;
    std::shared_ptr<const policy::TenantSnapshot> snapshot_;
    smtp::Transaction transaction_;
};

TEST_F(StopListCheckTest, ExcludeRefusesTheRecipientAtRcpt) {
    list("acme/main", "bob@example.net");
    list("", "@spam.example");
    snapshot_ = snapshot();
    StopListCheck check(reader_.get());
    EXPECT_EQ(rcpt(check, "acme/main", "bob@EXAMPLE.net"),
              "550 5.7.1 <bob@EXAMPLE.net>: recipient is on the stop list");
    EXPECT_EQ(rcpt(check, "acme/main", "ok@example.net"), "250");
    // Without a login: the global list only.
    EXPECT_EQ(rcpt(check, "", "bob@example.net"), "250");
    EXPECT_EQ(rcpt(check, "", "x@spam.example"),
              "550 5.7.1 <x@spam.example>: recipient is on the stop list");
    EXPECT_EQ(data(check), "354");
}

TEST_F(StopListCheckTest, RejectMessageAcceptsAtRcptAndRefusesAtDataNamingFive) {
    ASSERT_TRUE(store_->set_stop_policy("acme/main", store::StopPolicy::reject_message));
    snapshot_ = snapshot();
    list("acme/main", "@listed.example");
    StopListCheck check(reader_.get());
    EXPECT_EQ(rcpt(check, "acme/main", "ok@example.net"), "250");
    EXPECT_EQ(data(check), "354");
    for (int index = 0; index < 7; ++index) {
        EXPECT_EQ(rcpt(check, "acme/main", "r" + std::to_string(index) + "@listed.example"), "250");
    }
    EXPECT_EQ(rcpt(check, "acme/main", "r0@listed.example"), "250");  // named once
    EXPECT_EQ(data(check),
              "554 5.7.1 Error: message not sent to anyone: recipients on the stop list: "
              "<r0@listed.example>, <r1@listed.example>, <r2@listed.example>, "
              "<r3@listed.example>, <r4@listed.example> and 2 more");
    // The next transaction starts a new list.
    transaction_ = smtp::Transaction{};
    EXPECT_EQ(rcpt(check, "acme/main", "ok@example.net"), "250");
    EXPECT_EQ(data(check), "354");
    EXPECT_EQ(rcpt(check, "acme/main", "z@listed.example"), "250");
    EXPECT_EQ(data(check),
              "554 5.7.1 Error: message not sent to anyone: recipients on the stop list: "
              "<z@listed.example>");
}

TEST_F(StopListCheckTest, WithoutAStoreNothingIsListed) {
    list("", "@spam.example");
    StopListCheck check(nullptr);
    EXPECT_EQ(rcpt(check, "acme/main", "x@spam.example"), "250");
    EXPECT_EQ(data(check), "354");
}

}  // namespace
}  // namespace relay::ingress::internal
