// Stop lists in the tenant store: address and whole-domain entries, the case of domains, the
// global list against a resource's, expiry, bulk adds, listing, and the cascade when a resource
// or its project goes away.
#include "relay/store/stop_list.h"

#include <gtest/gtest.h>

#include "store_test_support.h"

namespace relay::store {
namespace {

constexpr std::uint64_t now_s = 1'800'000'000;

StopEntry entry(std::string scope, std::string_view address, StopReason reason = StopReason::manual,
                std::uint64_t expires_s = 0) {
    auto parsed = parse_stop_address(address);
    EXPECT_TRUE(parsed) << address;
    return StopEntry{std::move(scope), parsed ? parsed.value() : StopAddress{}, reason, now_s - 60,
                     expires_s};
}

class StopListTest : public testing::StoreFixture {
  protected:
    void SetUp() override {
        StoreFixture::SetUp();
        ASSERT_TRUE(store_->add_project("acme", {.resources_max = 2, .domains_max = {}}));
        ASSERT_TRUE(store_->add_resource("acme/main", "hash"));
        ASSERT_TRUE(store_->add_resource("acme/other", "hash"));
    }
    StopListStore& lists() { return store_->stop_lists(); }

    // "scope/address/reason" of what a reader finds, or "-".
    std::string found(std::string_view username, std::string_view recipient,
                      std::uint64_t at_s = now_s) {
        auto reader = lists().reader();
        EXPECT_TRUE(reader);
        auto match = reader.value()->find(username, recipient, at_s);
        EXPECT_TRUE(match) << match.error().message;
        auto entry = lists().find_stop(std::string(username), recipient, at_s);
        EXPECT_TRUE(entry);
        EXPECT_EQ(match.value().has_value(), entry.value().has_value());
        if (!match.value()) {
            return "-";
        }
        EXPECT_EQ(match.value()->global, entry.value()->scope.empty());
        EXPECT_EQ(match.value()->whole_domain, entry.value()->address.whole_domain());
        return (entry.value()->scope.empty() ? "global" : entry.value()->scope) + " " +
               entry.value()->address.text() + " " +
               std::string(stop_reason_name(match.value()->reason));
    }
    std::vector<std::string> listed(const std::string& scope) {
        std::vector<std::string> out;
        Status read = lists().for_each_stop(
            scope, [&](const StopEntry& entry) { out.push_back(entry.address.text()); });
        EXPECT_TRUE(read);
        return out;
    }
};

TEST(StopAddressTest, ParsesAddressesAndDomainsAndRefusesTheRest) {
    auto address = parse_stop_address("John.Doe@Example.NET");
    ASSERT_TRUE(address);
    EXPECT_EQ(address->domain, "example.net");
    EXPECT_EQ(address->local, "John.Doe");
    EXPECT_EQ(address->text(), "John.Doe@example.net");
    auto domain = parse_stop_address("@Example.net");
    ASSERT_TRUE(domain);
    EXPECT_TRUE(domain->whole_domain());
    for (std::string_view bad : {"no-at-sign", "a@b", "a b@example.net", "a@b@example.net",
                                 "a@exa mple.net", "\"q\"@example.net", "a@"}) {
        EXPECT_FALSE(parse_stop_address(bad)) << bad;
    }
    EXPECT_FALSE(parse_stop_address(std::string(65, 'x') + "@example.net"));
    EXPECT_EQ(parse_stop_reason("hard_bounce"), StopReason::hard_bounce);
    EXPECT_EQ(parse_stop_reason("bounce"), std::nullopt);
}

TEST_F(StopListTest, AddressEntriesMatchTheDomainInAnyCaseAndTheLocalPartExactly) {
    ASSERT_TRUE(lists().add_stop(entry("acme/main", "Bob@Example.net", StopReason::complaint)));
    EXPECT_EQ(found("acme/main", "Bob@EXAMPLE.NET"), "acme/main Bob@example.net complaint");
    EXPECT_EQ(found("acme/main", "bob@example.net"), "-");
    EXPECT_EQ(found("acme/main", "Bob@sub.example.net"), "-");
    EXPECT_EQ(found("acme/other", "Bob@example.net"), "-");  // another resource's list
    EXPECT_EQ(found("", "Bob@example.net"), "-");
}

TEST_F(StopListTest, DomainEntriesAndTheGlobalListAndWhichEntryWins) {
    ASSERT_TRUE(lists().add_stop(entry("", "@spam.example", StopReason::manual)));
    ASSERT_TRUE(lists().add_stop(entry("", "x@spam.example", StopReason::hard_bounce)));
    ASSERT_TRUE(lists().add_stop(entry("acme/main", "@spam.example", StopReason::unsubscribe)));
    EXPECT_EQ(found("acme/main", "x@Spam.Example"), "acme/main @spam.example unsubscribe");
    EXPECT_EQ(found("acme/other", "x@spam.example"), "global x@spam.example hard_bounce");
    EXPECT_EQ(found("acme/other", "y@spam.example"), "global @spam.example manual");
    EXPECT_EQ(found("", "y@spam.example"), "global @spam.example manual");
    EXPECT_EQ(found("acme/other", "no-at-sign"), "-");
}

TEST_F(StopListTest, AnExpiredEntryDoesNotMatchButIsStillListed) {
    ASSERT_TRUE(lists().add_stop(entry("acme/main", "a@example.net", StopReason::manual, now_s)));
    ASSERT_TRUE(lists().add_stop(entry("", "@example.net", StopReason::manual, now_s + 10)));
    EXPECT_EQ(found("acme/main", "a@example.net", now_s - 1), "acme/main a@example.net manual");
    EXPECT_EQ(found("acme/main", "a@example.net", now_s), "global @example.net manual");
    EXPECT_EQ(found("acme/main", "a@example.net", now_s + 10), "-");
    EXPECT_EQ(listed("acme/main"), std::vector<std::string>{"a@example.net"});
}

TEST_F(StopListTest, AddReplacesRemoveSaysWhetherThereWasAnEntry) {
    ASSERT_TRUE(lists().add_stop(entry("", "a@example.net", StopReason::manual)));
    ASSERT_TRUE(lists().add_stop(entry("", "a@example.net", StopReason::complaint)));
    EXPECT_EQ(found("", "a@example.net"), "global a@example.net complaint");
    auto removed = lists().remove_stop("", *parse_stop_address("a@EXAMPLE.net"));
    ASSERT_TRUE(removed);
    EXPECT_TRUE(removed.value());
    removed = lists().remove_stop("", *parse_stop_address("a@example.net"));
    ASSERT_TRUE(removed);
    EXPECT_FALSE(removed.value());
    EXPECT_EQ(found("", "a@example.net"), "-");
}

TEST_F(StopListTest, AResourceScopeMustExistAndABulkAddIsAllOrNothing) {
    Status refused = lists().add_stop(entry("acme/none", "a@example.net"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message, "no resource acme/none");
    std::vector<StopEntry> batch = {entry("acme/main", "a@example.net"),
                                    entry("acme/none", "b@example.net")};
    EXPECT_FALSE(lists().add_stops(batch));
    EXPECT_TRUE(listed("acme/main").empty());
    batch.pop_back();
    batch.push_back(entry("", "c@example.net"));
    EXPECT_TRUE(lists().add_stops(batch));
    EXPECT_EQ(listed("acme/main"), std::vector<std::string>{"a@example.net"});
    EXPECT_EQ(listed(""), std::vector<std::string>{"c@example.net"});
}

TEST_F(StopListTest, RemovingAResourceOrItsProjectRemovesItsEntriesOnly) {
    ASSERT_TRUE(lists().add_stop(entry("acme/main", "a@example.net")));
    ASSERT_TRUE(lists().add_stop(entry("acme/main", "@example.org")));
    ASSERT_TRUE(lists().add_stop(entry("acme/other", "b@example.net")));
    ASSERT_TRUE(lists().add_stop(entry("", "g@example.net")));
    ASSERT_TRUE(store_->remove_resource("acme/main"));
    EXPECT_TRUE(listed("acme/main").empty());
    EXPECT_EQ(listed("acme/other"), std::vector<std::string>{"b@example.net"});
    // A resource added again under the same name starts with an empty list.
    ASSERT_TRUE(store_->add_resource("acme/main", "hash"));
    EXPECT_EQ(found("acme/main", "a@example.net"), "-");
    ASSERT_TRUE(store_->remove_project("acme"));
    EXPECT_TRUE(listed("acme/other").empty());
    EXPECT_EQ(listed(""), std::vector<std::string>{"g@example.net"});
}

TEST_F(StopListTest, EntriesAndThePolicySurviveAReopenAndAReaderSeesLaterCommits) {
    auto reader = lists().reader();
    ASSERT_TRUE(reader);
    auto before = reader.value()->find("acme/main", "a@example.net", now_s);
    ASSERT_TRUE(before);
    EXPECT_FALSE(before.value());
    ASSERT_TRUE(lists().add_stop(entry("acme/main", "a@example.net")));
    auto after = reader.value()->find("acme/main", "a@example.net", now_s);
    ASSERT_TRUE(after);
    EXPECT_TRUE(after.value());  // the same reader, the next lookup
    reader.value().reset();

    std::uint64_t generation = store_->generation().value();
    ASSERT_TRUE(store_->set_stop_policy("acme/main", StopPolicy::reject_message));
    EXPECT_GT(store_->generation().value(), generation);  // the snapshot carries the policy
    EXPECT_FALSE(store_->set_stop_policy("acme/none", StopPolicy::exclude));
    reopen();
    EXPECT_EQ(found("acme/main", "a@example.net"), "acme/main a@example.net manual");
    TenantData tenants = data();
    ASSERT_EQ(tenants.resources.size(), 2u);
    EXPECT_EQ(tenants.resources[0].stop_policy, StopPolicy::reject_message);
    EXPECT_EQ(tenants.resources[1].stop_policy, StopPolicy::exclude);
}

}  // namespace
}  // namespace relay::store
