// smtp_parser_bench.cc -- throughput of the SMTP command parser and the reply reader.
//
// Each command benchmark parses one line per iteration, so "Time" is ns per line; bytes/s is
// the line bytes parsed per second and items/s the lines per second. The mix replays a
// realistic transaction (EHLO, MAIL with parameters, several RCPT, DATA, QUIT). Pure CPU work:
// no I/O, no allocation inside the timed loop for the command parser.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/command.h"
#include "relay/smtp/reply.h"

namespace {

using namespace relay::smtp;

void parse_one_line(benchmark::State& state, std::string_view line) {
    for (auto _ : state) {
        Command command = parse_command(line);
        benchmark::DoNotOptimize(command);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * line.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_Mail(benchmark::State& state) {
    parse_one_line(state, "MAIL FROM:<user@example.com> SIZE=10240 BODY=8BITMIME");
}
BENCHMARK(BM_Mail);

void BM_MailNullSender(benchmark::State& state) {
    parse_one_line(state, "MAIL FROM:<>");
}
BENCHMARK(BM_MailNullSender);

void BM_Rcpt(benchmark::State& state) {
    parse_one_line(state, "RCPT TO:<first.last+newsletter@mail.customer-example.org>");
}
BENCHMARK(BM_Rcpt);

void BM_RcptUtf8(benchmark::State& state) {
    parse_one_line(state,
                   "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
                   "\xe5\xb9\xbf\xe5\x91\x8a>");
}
BENCHMARK(BM_RcptUtf8);

void BM_RcptIpv6Literal(benchmark::State& state) {
    parse_one_line(state, "RCPT TO:<postmaster@[IPv6:2001:db8:85a3::8a2e:370:7334]>");
}
BENCHMARK(BM_RcptIpv6Literal);

void BM_Ehlo(benchmark::State& state) {
    parse_one_line(state, "EHLO client.example.net");
}
BENCHMARK(BM_Ehlo);

void BM_Data(benchmark::State& state) {
    parse_one_line(state, "DATA");
}
BENCHMARK(BM_Data);

void BM_AuthPlain(benchmark::State& state) {
    parse_one_line(state, "AUTH PLAIN AGRlbW8vbWFpbgBzM2NyZXQtcGFzc3dvcmQtMTIzNA==");
}
BENCHMARK(BM_AuthPlain);

void BM_InvalidLongLocalPart(benchmark::State& state) {
    const std::string line = "RCPT TO:<" + std::string(200, 'x') + "@example.com>";
    parse_one_line(state, line);
}
BENCHMARK(BM_InvalidLongLocalPart);

void BM_Unknown(benchmark::State& state) {
    parse_one_line(state, "GET / HTTP/1.1");
}
BENCHMARK(BM_Unknown);

// One transaction as a relay sees it, lines per second over the whole mix.
void BM_TransactionMix(benchmark::State& state) {
    const std::vector<std::string_view> lines = {
        "EHLO app-server-17.customer.example",
        "MAIL FROM:<noreply@customer.example> SIZE=48213 BODY=8BITMIME",
        "RCPT TO:<alice@example.com>",
        "RCPT TO:<bob.smith@mail.example.org>",
        "RCPT TO:<carol+orders@shop.example.net>",
        "DATA",
        "RSET",
        "QUIT",
    };
    std::size_t bytes = 0;
    for (const std::string_view line : lines) {
        bytes += line.size();
    }
    for (auto _ : state) {
        for (const std::string_view line : lines) {
            Command command = parse_command(line);
            benchmark::DoNotOptimize(command);
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * lines.size()));
}
BENCHMARK(BM_TransactionMix);

void BM_IsValidUtf8(benchmark::State& state) {
    std::string text;
    while (text.size() < 4096) {
        text +=
            "Gr\xc3\xbc\xc3\x9f\x65 \xe4\xbd\xa0\xe5\xa5\xbd plain ascii words \xf0\x9f\x93\xa7 ";
    }
    for (auto _ : state) {
        bool valid = is_valid_utf8(text);
        benchmark::DoNotOptimize(valid);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_IsValidUtf8);

// The client side: a pipelined burst of replies, read as the delivery connection would.
void BM_ReplyReaderPipelined(benchmark::State& state) {
    const std::string_view stream =
        "250-mx.example.com Hello relay.example [192.0.2.25]\r\n"
        "250-SIZE 35882577\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
        "250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
        "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4Xk2Lm0Qz1\r\n";
    std::int64_t replies = 0;
    for (auto _ : state) {
        ReplyReader reader;
        std::string_view rest = stream;
        while (!rest.empty()) {
            rest.remove_prefix(reader.feed(rest));
            std::optional<Reply> reply = reader.take();
            benchmark::DoNotOptimize(reply);
            replies += reply ? 1 : 0;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
    state.SetItemsProcessed(replies);
}
BENCHMARK(BM_ReplyReaderPipelined);

}  // namespace
