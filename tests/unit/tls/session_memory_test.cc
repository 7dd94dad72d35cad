// session_memory_test.cc -- what a TLS session costs in memory, measured by routing wolfSSL's
// allocations through counting functions.
//
// Per-connection memory is a design target (< 64 KiB per idle connection, TLS included), so
// the test fails when an idle established session grows past a quarter of that.
// wolfssl/options.h must come before any other wolfSSL header.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/memory.h>
// clang-format on

#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cstdio>

#include "tls_test_support.h"

namespace relay::tls {
namespace {

std::atomic<long> live_bytes{0};
std::atomic<long> peak_bytes{0};

void note(long delta) {
    long now = live_bytes.fetch_add(delta) + delta;
    long peak = peak_bytes.load();
    while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
    }
}

void* counting_malloc(size_t size) {
    void* pointer = std::malloc(size);
    if (pointer != nullptr) {
        note(static_cast<long>(malloc_usable_size(pointer)));
    }
    return pointer;
}

void counting_free(void* pointer) {
    if (pointer != nullptr) {
        note(-static_cast<long>(malloc_usable_size(pointer)));
    }
    std::free(pointer);
}

void* counting_realloc(void* pointer, size_t size) {
    long before = pointer != nullptr ? static_cast<long>(malloc_usable_size(pointer)) : 0;
    void* moved = std::realloc(pointer, size);
    if (moved != nullptr) {
        note(static_cast<long>(malloc_usable_size(moved)) - before);
    }
    return moved;
}

// Installed before main(), so wolfSSL never allocates with anything else.
const bool installed = wolfSSL_SetAllocators(counting_malloc, counting_free, counting_realloc) == 0;

class SessionMemory : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(installed);
        cert_ = folder_.file("c.pem");
        key_ = folder_.file("k.pem");
        ASSERT_TRUE(generate_self_signed("mx.relay.test", key_, cert_, 1));
    }
    testing::ScratchFolder folder_;
    std::string cert_, key_;
};

TEST_F(SessionMemory, AnIdleEstablishedSessionCostsAFewKibibytes) {
    ServerConfig server_config;
    server_config.certificate_chain_path = cert_;
    server_config.private_key_path = key_;
    auto server_ctx = Context::server(server_config);
    ClientConfig client_config;
    client_config.verify = Verify::required;
    client_config.ca_file = cert_;
    auto client_ctx = Context::client(client_config);
    ASSERT_TRUE(server_ctx && client_ctx);

    long before = live_bytes.load();
    peak_bytes.store(before);
    auto server = Session::server(*server_ctx);
    long server_new = live_bytes.load() - before;
    auto client = Session::client(*client_ctx, "mx.relay.test");
    ASSERT_TRUE(server && client);
    ASSERT_TRUE(testing::pump_handshake(*client, *server));
    long handshake_peak = peak_bytes.load() - before;
    // One exchange each way, then idle: everything read, everything sent.
    ASSERT_EQ(client->write(testing::as_bytes("EHLO x\r\n")).progress, Progress::done);
    testing::transfer(*client, *server);
    std::string got;
    ASSERT_EQ(testing::read_available(*server, got, 4096), Progress::want_input);
    ASSERT_EQ(server->write(testing::as_bytes("250 ok\r\n")).progress, Progress::done);
    testing::transfer(*server, *client);
    ASSERT_EQ(testing::read_available(*client, got, 4096), Progress::want_input);
    EXPECT_EQ(got, "EHLO x\r\n250 ok\r\n");
    EXPECT_EQ(server->buffered_bytes(), 0u);
    EXPECT_EQ(client->buffered_bytes(), 0u);

    long both_idle = live_bytes.load() - before;
    { auto gone = std::move(client).value(); }
    long server_idle = live_bytes.load() - before;
    long client_idle = both_idle - server_idle;
    std::printf(
        "wolfSSL heap per session: new server %ld B; handshake peak (both) %ld B; "
        "idle established: server %ld B, client %ld B\n",
        server_new, handshake_peak, server_idle, client_idle);
    EXPECT_GT(server_idle, 0);
    EXPECT_LT(server_idle, 16 * 1024);
    EXPECT_LT(client_idle, 16 * 1024);
}

}  // namespace
}  // namespace relay::tls
