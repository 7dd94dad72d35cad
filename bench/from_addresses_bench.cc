// from_addresses_bench.cc -- cost of reading the From field's domains once per message, as the
// end-of-data sender check does: a typical field alone, a longer one with comments, folding and
// several mailboxes, and the lookup in a typical header block.
//
// Reports items_per_second (fields parsed) and bytes_per_second over the field's bytes.
#include <benchmark/benchmark.h>

#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relay/message/from_addresses.h"
#include "relay/message/message_pass.h"

namespace {

using relay::message::FromAddresses;
using relay::message::FromDomains;

constexpr std::string_view typical = "Alice Example <alice@example.com>";
constexpr std::string_view elaborate =
    "\"Example, Alice\" (Sales) <alice.example@mail.example.com>,\r\n"
    " =?UTF-8?B?w4FsaWNl?= <a.lice@example.org>, bob@example.net (Bob),\r\n"
    "\t<@relay.example:carol@Example.COM.>";

bool accepted(const FromAddresses& result) {
    return std::holds_alternative<FromDomains>(result);
}

void BM_FromValue(benchmark::State& state, std::string_view value) {
    for (auto _ : state) {
        FromAddresses result = relay::message::parse_from_value(value, 100);
        benchmark::DoNotOptimize(result);
    }
    if (!accepted(relay::message::parse_from_value(value, 100))) {
        state.SkipWithError("field refused");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * value.size()));
}

struct NullSink final : relay::message::Sink {
    void append(std::string_view /*bytes*/) override {}
};

void BM_FromInHeaderBlock(benchmark::State& state) {
    std::string message =
        "Received: from client.example.net (client.example.net [192.0.2.7])\r\n"
        "\tby relay.example.com with ESMTPSA id 4Xy7Qd2kZ9z1\r\n"
        "To: Bob Example <bob@example.org>\r\n"
        "Subject: Quarterly report and the figures you asked for\r\n"
        "Date: Tue, 11 Jun 2024 10:00:00 +0000\r\n"
        "From: Alice Example <alice@example.com>\r\n"
        "Message-ID: <20240611100000.12345@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "body\r\n";
    relay::message::MessagePass pass(relay::message::PassLimits{});
    NullSink sink;
    pass.start(false);
    pass.feed_chunk(std::span<char>(message.data(), message.size()), sink, nullptr);
    pass.finish_chunks(sink, nullptr);
    if (!accepted(relay::message::from_addresses(pass.headers(), 100))) {
        state.SkipWithError("From field refused");
    }
    for (auto _ : state) {
        FromAddresses result = relay::message::from_addresses(pass.headers(), 100);
        benchmark::DoNotOptimize(result);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK_CAPTURE(BM_FromValue, typical, typical);
BENCHMARK_CAPTURE(BM_FromValue, elaborate, elaborate);
BENCHMARK(BM_FromInHeaderBlock);
