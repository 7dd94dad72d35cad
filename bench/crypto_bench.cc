// crypto_bench.cc -- the CPU cost of relay's cryptography with the wolfSSL build it ships with.
//
// DKIM signing (rsa-sha256: RSASSA-PKCS1-v1_5 with SHA-256, RFC 6376 section 3.3.1; ed25519-sha256,
// RFC 8463), SHA-256 throughput (the DKIM body hash, RFC 6376 section 3.7), ECDSA P-256 signing
// (the handshake signature of relayd's self-signed certificate) and full TLS handshakes through
// two in-memory sessions. One thread: the figures are per core.
//
// Untrusted bytes: none. Never: part of relayd; a measuring tool only.
// wolfssl/options.h must come before any other wolfSSL header.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/signature.h>
// clang-format on

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "relay/tls/certificate.h"
#include "relay/tls/context.h"
#include "relay/tls/session.h"

namespace {

// A DKIM header block's worth of bytes to sign (its hash is what the key signs).
const std::string signed_headers =
    "from:Alice <alice@example.com>\r\nto:bob@example.net\r\nsubject:Quarterly report\r\n"
    "date:Mon, 3 Mar 2025 10:00:00 +0000\r\nmessage-id:<20250303100000.1@example.com>\r\n"
    "dkim-signature:v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;"
    " h=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=";

WC_RNG& rng() {
    static WC_RNG* generator = [] {
        auto* made = new WC_RNG;
        if (wc_InitRng(made) != 0) {
            abort();
        }
        return made;
    }();
    return *generator;
}

void report_rate(benchmark::State& state, const char* name) {
    state.counters[name] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Rsa2048SignSha256(benchmark::State& state) {
    RsaKey key;
    if (wc_InitRsaKey(&key, nullptr) != 0 || wc_MakeRsaKey(&key, 2048, WC_RSA_EXPONENT, &rng()) ||
        wc_RsaSetRNG(&key, &rng()) != 0) {
        state.SkipWithError("cannot make an RSA-2048 key");
        return;
    }
    std::vector<unsigned char> signature(256);
    for (auto _ : state) {
        word32 length = static_cast<word32>(signature.size());
        int result = wc_SignatureGenerate(WC_HASH_TYPE_SHA256, WC_SIGNATURE_TYPE_RSA_W_ENC,
                                          reinterpret_cast<const byte*>(signed_headers.data()),
                                          static_cast<word32>(signed_headers.size()),
                                          signature.data(), &length, &key, sizeof(key), &rng());
        if (result != 0) {
            state.SkipWithError("RSA signing failed");
            break;
        }
        benchmark::DoNotOptimize(signature.data());
    }
    report_rate(state, "sign/s");
    wc_FreeRsaKey(&key);
}
BENCHMARK(BM_Rsa2048SignSha256)->Unit(benchmark::kMicrosecond);

void BM_Ed25519Sign(benchmark::State& state) {
    ed25519_key key;
    if (wc_ed25519_init(&key) != 0 || wc_ed25519_make_key(&rng(), ED25519_KEY_SIZE, &key) != 0) {
        state.SkipWithError("cannot make an Ed25519 key");
        return;
    }
    // ed25519-sha256 signs the SHA-256 hash of the header block (RFC 8463 section 3).
    unsigned char hash[WC_SHA256_DIGEST_SIZE];
    wc_Sha256Hash(reinterpret_cast<const byte*>(signed_headers.data()),
                  static_cast<word32>(signed_headers.size()), hash);
    unsigned char signature[ED25519_SIG_SIZE];
    for (auto _ : state) {
        word32 length = sizeof(signature);
        if (wc_ed25519_sign_msg(hash, sizeof(hash), signature, &length, &key) != 0) {
            state.SkipWithError("Ed25519 signing failed");
            break;
        }
        benchmark::DoNotOptimize(signature);
    }
    report_rate(state, "sign/s");
    wc_ed25519_free(&key);
}
BENCHMARK(BM_Ed25519Sign)->Unit(benchmark::kMicrosecond);

void BM_EcdsaP256SignSha256(benchmark::State& state) {
    ecc_key key;
    if (wc_ecc_init(&key) != 0 || wc_ecc_make_key_ex(&rng(), 32, &key, ECC_SECP256R1) != 0 ||
        wc_ecc_set_rng(&key, &rng()) != 0) {
        state.SkipWithError("cannot make a P-256 key");
        return;
    }
    unsigned char hash[WC_SHA256_DIGEST_SIZE];
    wc_Sha256Hash(reinterpret_cast<const byte*>(signed_headers.data()),
                  static_cast<word32>(signed_headers.size()), hash);
    unsigned char signature[ECC_MAX_SIG_SIZE];
    for (auto _ : state) {
        word32 length = sizeof(signature);
        if (wc_ecc_sign_hash(hash, sizeof(hash), signature, &length, &rng(), &key) != 0) {
            state.SkipWithError("ECDSA signing failed");
            break;
        }
        benchmark::DoNotOptimize(signature);
    }
    report_rate(state, "sign/s");
    wc_ecc_free(&key);
}
BENCHMARK(BM_EcdsaP256SignSha256)->Unit(benchmark::kMicrosecond);

void BM_Sha256(benchmark::State& state) {
    std::vector<unsigned char> buffer(static_cast<std::size_t>(state.range(0)), 'a');
    unsigned char digest[WC_SHA256_DIGEST_SIZE];
    for (auto _ : state) {
        wc_Sha256 sha;
        wc_InitSha256(&sha);
        wc_Sha256Update(&sha, buffer.data(), static_cast<word32>(buffer.size()));
        wc_Sha256Final(&sha, digest);
        wc_Sha256Free(&sha);
        benchmark::DoNotOptimize(digest);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(64 * 1024);

// Server and client contexts over a freshly generated ECDSA P-256 certificate, the client
// verifying it (required, host name included), as relay's own delivery would.
struct HandshakeFixture {
    HandshakeFixture() {
        char pattern[] = "/tmp/relay-crypto-bench.XXXXXX";
        folder = ::mkdtemp(pattern);
        std::string key = folder + "/k.pem", cert = folder + "/c.pem";
        if (!relay::tls::generate_self_signed("mx.relay.test", key, cert, 1)) {
            abort();
        }
        relay::tls::ServerConfig server_config;
        server_config.certificate_chain_path = cert;
        server_config.private_key_path = key;
        server.emplace(std::move(relay::tls::Context::server(server_config)).value());
        for (auto version : {relay::tls::Version::tls1_2, relay::tls::Version::tls1_3}) {
            relay::tls::ClientConfig client_config;
            client_config.verify = relay::tls::Verify::required;
            client_config.ca_file = cert;
            client_config.version_max = version;
            client.emplace_back(std::move(relay::tls::Context::client(client_config)).value());
        }
    }
    ~HandshakeFixture() {
        std::error_code ignored;
        std::filesystem::remove_all(folder, ignored);
    }
    std::string folder;
    std::optional<relay::tls::Context> server;
    std::vector<relay::tls::Context> client;
};

std::size_t transfer(relay::tls::Session& from, relay::tls::Session& to) {
    std::size_t taken = to.feed(from.output());
    from.consume_output(taken);
    return taken;
}

bool handshake(relay::tls::Session& client, relay::tls::Session& server) {
    using relay::tls::Progress;
    for (int round = 0; round < 100; ++round) {
        Progress client_progress = client.handshake();
        transfer(client, server);
        Progress server_progress = server.handshake();
        transfer(server, client);
        if (client_progress == Progress::failed || server_progress == Progress::failed) {
            return false;
        }
        if (client_progress == Progress::done && server_progress == Progress::done &&
            client.output().empty() && server.output().empty()) {
            return true;
        }
    }
    return false;
}

void BM_TlsHandshake(benchmark::State& state) {
    static HandshakeFixture fixture;
    const relay::tls::Context& client_context = fixture.client[state.range(0) == 12 ? 0 : 1];
    for (auto _ : state) {
        auto server = relay::tls::Session::server(*fixture.server);
        auto client = relay::tls::Session::client(client_context, "mx.relay.test");
        if (!server || !client || !handshake(*client, *server) || !client->peer_verified()) {
            state.SkipWithError("handshake failed");
            break;
        }
    }
    report_rate(state, "handshakes/s");
}
BENCHMARK(BM_TlsHandshake)->ArgName("tls1")->Arg(13)->Arg(12)->Unit(benchmark::kMicrosecond);

}  // namespace
