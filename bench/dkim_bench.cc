// dkim_bench.cc -- the DKIM costs per core: the streaming body hash against plain SHA-256 over
// the same bytes (the canonicalization's overhead), and whole signatures per second (header
// canonicalization, header hash and the key operation) for rsa-sha256 and ed25519-sha256.
//
// The body is mail-like text: 72-octet lines of words with single spaces, CRLF line ends, and
// now and then what relaxed canonicalization changes (a double space, a tab, trailing
// whitespace, empty lines). It is fed in 16 KiB pieces, the size of a receive buffer.
//
// Untrusted bytes: none. Never: part of relayd; a measuring tool only.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>
// clang-format on

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <random>
#include <string>
#include <vector>

#include "relay/dkim/body_hash.h"
#include "relay/dkim/headers.h"
#include "relay/dkim/signature.h"

namespace {

constexpr std::size_t piece_bytes = 16 * 1024;

std::string mail_text(std::size_t size) {
    std::mt19937 random(1);
    static constexpr std::string_view words[] = {"the",   "relay", "delivers", "mail", "to",
                                                 "every", "peer",  "quickly",  "and",  "a"};
    std::string text;
    std::string line;
    std::uniform_int_distribution<int> pick(0, 9);
    std::uniform_int_distribution<int> odd(0, 99);
    while (text.size() < size) {
        line.clear();
        while (line.size() < 72) {
            line += words[pick(random)];
            const int k = odd(random);
            line += k == 0 ? "  " : k == 1 ? "\t" : " ";
        }
        text += line;
        text += odd(random) < 3 ? " \r\n\r\n" : "\r\n";
    }
    text.resize(size);
    return text;
}

const std::string& body(std::size_t size) {
    static std::string text;
    if (text.size() != size) {
        text = mail_text(size);
    }
    return text;
}

void BM_PlainSha256(benchmark::State& state) {
    const std::string& text = body(static_cast<std::size_t>(state.range(0)));
    unsigned char digest[WC_SHA256_DIGEST_SIZE];
    for (auto _ : state) {
        wc_Sha256 sha;
        wc_InitSha256(&sha);
        for (std::size_t offset = 0; offset < text.size(); offset += piece_bytes) {
            const std::size_t take = std::min(piece_bytes, text.size() - offset);
            wc_Sha256Update(&sha, reinterpret_cast<const byte*>(text.data() + offset),
                            static_cast<word32>(take));
        }
        wc_Sha256Final(&sha, digest);
        wc_Sha256Free(&sha);
        benchmark::DoNotOptimize(digest);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_PlainSha256)->Arg(10 * 1024)->Arg(1024 * 1024);

void body_hash(benchmark::State& state, relay::dkim::Canonicalization canonicalization) {
    const std::string& text = body(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        relay::dkim::BodyHasher hasher(canonicalization);
        for (std::size_t offset = 0; offset < text.size(); offset += piece_bytes) {
            hasher.body(std::string_view(text).substr(offset, piece_bytes));
        }
        benchmark::DoNotOptimize(hasher.finish());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void BM_RelaxedBodyHash(benchmark::State& state) {
    body_hash(state, relay::dkim::Canonicalization::relaxed);
}
BENCHMARK(BM_RelaxedBodyHash)->Arg(10 * 1024)->Arg(1024 * 1024);

void BM_SimpleBodyHash(benchmark::State& state) {
    body_hash(state, relay::dkim::Canonicalization::simple);
}
BENCHMARK(BM_SimpleBodyHash)->Arg(10 * 1024)->Arg(1024 * 1024);

constexpr std::string_view header_block =
    "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: Quarterly report\r\n"
    "Date: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <20250303100000.1@example.com>\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Received: from client.example.com by relay.example.com\r\n";

void sign(benchmark::State& state, relay::dkim::Algorithm algorithm) {
    auto key = relay::dkim::PrivateKey::generate(algorithm);
    if (!key.ok()) {
        state.SkipWithError("cannot generate the key");
        return;
    }
    const auto fields = relay::dkim::split_header_fields(header_block);
    relay::dkim::SignatureSpec spec;
    spec.algorithm = algorithm;
    spec.domain = "example.com";
    spec.selector = "s2026";
    spec.timestamp_s = 1764608400;
    spec.signed_field_names =
        relay::dkim::choose_signed_fields(fields, relay::dkim::default_signed_field_names(),
                                          relay::dkim::default_oversigned_field_names());
    const relay::dkim::Sha256Digest body_hash{};
    for (auto _ : state) {
        auto field = relay::dkim::sign_message(*key, spec, fields, body_hash);
        if (!field.ok()) {
            state.SkipWithError("signing failed");
            break;
        }
        benchmark::DoNotOptimize(field->data());
    }
    state.counters["sign/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_SignRsa2048(benchmark::State& state) {
    sign(state, relay::dkim::Algorithm::rsa_sha256);
}
BENCHMARK(BM_SignRsa2048)->Unit(benchmark::kMicrosecond);

void BM_SignEd25519(benchmark::State& state) {
    sign(state, relay::dkim::Algorithm::ed25519_sha256);
}
BENCHMARK(BM_SignEd25519)->Unit(benchmark::kMicrosecond);

}  // namespace
