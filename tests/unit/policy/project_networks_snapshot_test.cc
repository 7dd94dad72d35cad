// project_networks_snapshot_test.cc -- the snapshot's answer to "may a login of resource R come
// from address A": projects with networks admit only their networks' addresses, projects without
// admit any, and the answer allocates nothing.
//
// Its own executable: it replaces the global operator new to count allocations.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "relay/engine/socket_address.h"
#include "relay/policy/tenant_snapshot.h"

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

// GCC 12 at -O1 (the sanitizer build) pairs gtest's inlined `new TestClass` with the free() in
// the replacement delete below and warns; new and delete are both replaced here, so they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t bytes) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* memory = std::malloc(bytes == 0 ? 1 : bytes)) {
        return memory;
    }
    throw std::bad_alloc();
}
void operator delete(void* memory) noexcept {
    std::free(memory);
}
void operator delete(void* memory, std::size_t) noexcept {
    std::free(memory);
}

namespace relay::policy {
namespace {

store::ProjectRecord project(std::string name, std::vector<std::string> networks) {
    store::ProjectRecord record;
    record.name = std::move(name);
    record.networks = std::move(networks);
    return record;
}

store::ResourceRecord resource(std::string project, std::string name) {
    store::ResourceRecord record;
    record.project = std::move(project);
    record.name = std::move(name);
    record.password_hash = "$argon2id$x";
    return record;
}

engine::SocketAddress address(const char* ip) {
    auto parsed = engine::SocketAddress::from_ip(ip, 25);
    EXPECT_TRUE(parsed) << ip;
    return parsed.value_or(engine::SocketAddress());
}

class ProjectNetworksSnapshot : public ::testing::Test {
  protected:
    void SetUp() override {
        store::TenantData data;
        data.generation = 7;
        data.projects.push_back(project("narrow", {"192.0.2.0/24", "2001:db8::/32"}));
        data.projects.push_back(project("open", {}));
        data.projects.push_back(project("single", {"127.0.0.1/32"}));
        data.resources.push_back(resource("narrow", "web"));
        data.resources.push_back(resource("open", "web"));
        data.resources.push_back(resource("single", "web"));
        snapshot_ = TenantSnapshot::build(std::move(data));
    }
    bool allowed(std::string_view username, const char* ip) {
        engine::SocketAddress client = address(ip);
        return snapshot_->login_allowed_from(username, client.get());
    }

    std::shared_ptr<const TenantSnapshot> snapshot_;
};

TEST_F(ProjectNetworksSnapshot, NarrowedProjectAdmitsOnlyItsNetworks) {
    EXPECT_TRUE(allowed("narrow/web", "192.0.2.1"));
    EXPECT_TRUE(allowed("narrow/web", "192.0.2.255"));
    EXPECT_FALSE(allowed("narrow/web", "192.0.3.1"));
    EXPECT_TRUE(allowed("narrow/web", "2001:db8:ffff::1"));
    EXPECT_FALSE(allowed("narrow/web", "2001:db9::1"));
    EXPECT_FALSE(allowed("narrow/web", "127.0.0.1"));
    // A dual-stack socket reports an IPv4 client as a mapped address.
    EXPECT_TRUE(allowed("narrow/web", "::ffff:192.0.2.9"));
    EXPECT_FALSE(allowed("narrow/web", "::ffff:198.51.100.1"));
}

TEST_F(ProjectNetworksSnapshot, SingleAddressProject) {
    EXPECT_TRUE(allowed("single/web", "127.0.0.1"));
    EXPECT_FALSE(allowed("single/web", "127.0.0.2"));
    EXPECT_FALSE(allowed("single/web", "::1"));
}

TEST_F(ProjectNetworksSnapshot, ProjectWithoutNetworksAdmitsAny) {
    EXPECT_TRUE(allowed("open/web", "192.0.2.1"));
    EXPECT_TRUE(allowed("open/web", "203.0.113.9"));
    EXPECT_TRUE(allowed("open/web", "::1"));
}

// Unknown names are the password check's to refuse, with the same 535 as a wrong password.
TEST_F(ProjectNetworksSnapshot, UsernameOfNoKnownProjectPasses) {
    EXPECT_TRUE(allowed("nobody/web", "203.0.113.9"));
    EXPECT_TRUE(allowed("no-slash", "203.0.113.9"));
    EXPECT_TRUE(allowed("", "203.0.113.9"));
}

TEST_F(ProjectNetworksSnapshot, ProjectNameIsMatchedWhole) {
    // "narrow" has networks; "narrowe" and "narro" are other (unknown) projects.
    EXPECT_TRUE(allowed("narrowe/web", "203.0.113.9"));
    EXPECT_TRUE(allowed("narro/web", "203.0.113.9"));
    EXPECT_FALSE(allowed("narrow/other", "203.0.113.9"));
}

TEST_F(ProjectNetworksSnapshot, AnswerAllocatesNothing) {
    engine::SocketAddress inside = address("192.0.2.1");
    engine::SocketAddress outside = address("2001:db9::1");
    std::string_view username = "narrow/web";
    std::size_t before = allocations.load();
    bool in = snapshot_->login_allowed_from(username, inside.get());
    bool out = snapshot_->login_allowed_from(username, outside.get());
    bool open = snapshot_->login_allowed_from("open/web", outside.get());
    EXPECT_EQ(allocations.load(), before);
    EXPECT_TRUE(in);
    EXPECT_FALSE(out);
    EXPECT_TRUE(open);
}

// The store writes only what parses; should a record hold something else, the project stays
// narrowed (to nothing) rather than open to every address.
TEST(ProjectNetworksSnapshotDamage, UnparsableNetworkKeepsTheProjectNarrowed) {
    store::TenantData data;
    data.projects.push_back(project("hurt", {"not-a-network"}));
    data.projects.push_back(project("half", {"not-a-network", "192.0.2.0/24"}));
    std::size_t before = allocations.load();
    auto snapshot = TenantSnapshot::build(std::move(data));
    EXPECT_GT(allocations.load(), before);  // the counter sees what the snapshot allocates
    engine::SocketAddress client = address("192.0.2.1");
    EXPECT_FALSE(snapshot->login_allowed_from("hurt/web", client.get()));
    EXPECT_TRUE(snapshot->login_allowed_from("half/web", client.get()));
}

}  // namespace
}  // namespace relay::policy
