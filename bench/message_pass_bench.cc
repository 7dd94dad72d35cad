// message_pass_bench.cc -- throughput of the message pass (DATA and BDAT framing) with a sink
// that only counts, for typical and adversarial message shapes and receive-buffer sizes.
//
// Reports bytes_per_second over the received bytes (DATA: dot-stuffed, with the terminator).
// The input is fed in slices of the buffer size given as the benchmark argument, as the engine
// hands over its receive buffers. The pass is allowed to write into its input; this one does not
// (it never unstuffs in place), so the same input is reused across iterations, and a check after
// the run makes sure of it.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "relay/message/message_pass.h"

namespace {

using relay::message::MessagePass;
using relay::message::PassLimits;
using relay::message::Verdict;

struct CountingSink final : relay::message::Sink {
    std::uint64_t bytes = 0;
    void append(std::string_view data) override { bytes += data.size(); }
};

enum class Shape {
    ascii,       // 76-character lines of printable ASCII
    utf8_heavy,  // lines of Cyrillic, Greek, CJK and emoji with little ASCII
    dotted,      // every other line starts with a dot (stuffed on the wire)
    tabbed,      // HTML indented with tabs: HT is the control octet common in text
};

constexpr std::string_view kHeader =
    "Received: from client.example.net (client.example.net [192.0.2.7])\r\n"
    "\tby relay.example.com with ESMTPSA id 4Xy7Qd2kZ9z1\r\n"
    "From: Alice Example <alice@example.com>\r\n"
    "To: Bob Example <bob@example.org>\r\n"
    "Subject: Quarterly report and the figures you asked for\r\n"
    "Date: Tue, 11 Jun 2024 10:00:00 +0000\r\n"
    "Message-ID: <20240611100000.12345@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n";

std::string line_of(Shape shape, std::size_t number) {
    static constexpr std::string_view words[] = {"relay ",    "message ", "quarterly ", "figures ",
                                                 "delivery ", "report ",  "the ",       "and "};
    static constexpr std::string_view wide[] = {"Привет ",   "мир ",    "γειά ", "σου ",
                                                "你好世界 ", "日本語 ", "😀 ",    "ünïcödé "};
    std::string line;
    if (shape == Shape::dotted && number % 2 == 0) {
        line += '.';
    }
    if (shape == Shape::tabbed) {
        line.append(1 + number % 6, '\t');
        line += "<td class=\"cell\">\t";
    }
    std::size_t word = number;
    // 76 columns for ASCII; wide text stops at a similar number of octets.
    while (line.size() < 70) {
        line += shape == Shape::utf8_heavy ? wide[word % 8] : words[word % 8];
        word = word * 7 + 3;
    }
    if (shape != Shape::utf8_heavy) {
        line.resize(76, 'x');
    }
    return line + "\r\n";
}

// The message as stored (BDAT chunks carry exactly this).
std::string message_of(Shape shape, std::size_t size_bytes) {
    std::string message(kHeader);
    for (std::size_t number = 0; message.size() < size_bytes; ++number) {
        message += line_of(shape, number);
    }
    return message;
}

// The same message as DATA sends it: dot-stuffed, then CRLF "." CRLF.
std::string dot_stuffed(std::string_view message) {
    std::string wire;
    wire.reserve(message.size() + message.size() / 64 + 3);
    for (std::size_t index = 0; index < message.size(); ++index) {
        if (message[index] == '.' && (index == 0 || message[index - 1] == '\n')) {
            wire += '.';
        }
        wire += message[index];
    }
    return wire + ".\r\n";
}

PassLimits bench_limits(bool charset_scan = true) {
    PassLimits limits;
    limits.message_bytes_max = 64ULL * 1024 * 1024;
    limits.require_utf8_charsets = charset_scan;
    return limits;
}

// What a mail client sends with an attachment: multipart/mixed, a multipart/alternative of text
// and HTML (with dashes at line starts, which the scan must look at), then base64 to the size.
std::string multipart_of(std::size_t size_bytes) {
    std::string message(kHeader.substr(0, kHeader.find("Content-Type:")));
    message +=
        "Content-Type: multipart/mixed; boundary=\"=_outer_4f2a\"\r\n\r\n"
        "This is a multi-part message in MIME format.\r\n"
        "--=_outer_4f2a\r\n"
        "Content-Type: multipart/alternative;\r\n boundary=\"=_inner_9c1d\"\r\n\r\n"
        "--=_inner_9c1d\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n";
    for (std::size_t number = 0; number < 40; ++number) {
        message += number % 5 == 0 ? "-- a dashed line, as signatures and lists have\r\n"
                                   : line_of(Shape::utf8_heavy, number);
    }
    message += "--=_inner_9c1d\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\r\n";
    for (std::size_t number = 0; number < 40; ++number) {
        message += line_of(Shape::tabbed, number);
    }
    message +=
        "--=_inner_9c1d--\r\n\r\n--=_outer_4f2a\r\n"
        "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
        "Content-Disposition: attachment; filename*=utf-8''report%20Q2.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n";
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::uint32_t seed = 12345;
    while (message.size() + 20 < size_bytes) {
        for (int column = 0; column < 76; ++column) {
            seed = seed * 1103515245 + 12345;
            message += alphabet[(seed >> 16) % 64];
        }
        message += "\r\n";
    }
    return message + "--=_outer_4f2a--\r\n";
}

// BDAT with and without the charset scan, for the same message: what the scan costs.
void charset_scan(benchmark::State& state, bool multipart, std::size_t size_bytes, bool scan) {
    std::string message =
        multipart ? multipart_of(size_bytes) : message_of(Shape::ascii, size_bytes);
    const auto buffer_bytes = static_cast<std::size_t>(state.range(0));
    MessagePass pass(bench_limits(scan));
    CountingSink sink;
    for (auto _ : state) {
        pass.start(false);
        for (std::size_t offset = 0; offset < message.size(); offset += buffer_bytes) {
            const std::size_t size = std::min(buffer_bytes, message.size() - offset);
            pass.feed_chunk(std::span<char>(message.data() + offset, size), sink, nullptr);
        }
        pass.finish_chunks(sink, nullptr);
        benchmark::DoNotOptimize(sink.bytes);
        if (pass.outcome().verdict != Verdict::accepted) {
            state.SkipWithError("message not accepted");
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
}

void data_pass(benchmark::State& state, Shape shape, std::size_t size_bytes) {
    const std::string message = message_of(shape, size_bytes);
    std::string wire = dot_stuffed(message);
    const std::string original = wire;
    const auto buffer_bytes = static_cast<std::size_t>(state.range(0));
    MessagePass pass(bench_limits());
    CountingSink sink;
    for (auto _ : state) {
        pass.start(true);
        bool finished = false;
        for (std::size_t offset = 0; offset < wire.size() && !finished; offset += buffer_bytes) {
            const std::size_t size = std::min(buffer_bytes, wire.size() - offset);
            finished =
                pass.feed_dot_stuffed(std::span<char>(wire.data() + offset, size), sink, nullptr)
                    .finished;
        }
        benchmark::DoNotOptimize(sink.bytes);
        if (!finished || pass.outcome().verdict != Verdict::accepted) {
            state.SkipWithError("message not accepted");
            break;
        }
    }
    if (wire != original || pass.outcome().stored_bytes != message.size()) {
        state.SkipWithError("input modified or stored size wrong");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

void bdat_pass(benchmark::State& state, Shape shape, std::size_t size_bytes) {
    std::string message = message_of(shape, size_bytes);
    const auto buffer_bytes = static_cast<std::size_t>(state.range(0));
    MessagePass pass(bench_limits());
    CountingSink sink;
    for (auto _ : state) {
        pass.start(false);
        for (std::size_t offset = 0; offset < message.size(); offset += buffer_bytes) {
            const std::size_t size = std::min(buffer_bytes, message.size() - offset);
            pass.feed_chunk(std::span<char>(message.data() + offset, size), sink, nullptr);
        }
        pass.finish_chunks(sink, nullptr);
        benchmark::DoNotOptimize(sink.bytes);
        if (pass.outcome().verdict != Verdict::accepted) {
            state.SkipWithError("message not accepted");
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
}

#define RELAY_MESSAGE_BENCH(function, name, shape, size) \
    BENCHMARK_CAPTURE(function, name, shape, size)->Arg(4096)->Arg(16384)->Arg(65536)

RELAY_MESSAGE_BENCH(data_pass, ascii_10k, Shape::ascii, 10 * 1024);
RELAY_MESSAGE_BENCH(data_pass, ascii_100k, Shape::ascii, 100 * 1024);
RELAY_MESSAGE_BENCH(data_pass, ascii_1m, Shape::ascii, 1024 * 1024);
RELAY_MESSAGE_BENCH(data_pass, utf8_heavy_10k, Shape::utf8_heavy, 10 * 1024);
RELAY_MESSAGE_BENCH(data_pass, dotted_100k, Shape::dotted, 100 * 1024);
RELAY_MESSAGE_BENCH(data_pass, tabbed_100k, Shape::tabbed, 100 * 1024);
RELAY_MESSAGE_BENCH(bdat_pass, ascii_10k, Shape::ascii, 10 * 1024);
RELAY_MESSAGE_BENCH(bdat_pass, ascii_100k, Shape::ascii, 100 * 1024);
RELAY_MESSAGE_BENCH(bdat_pass, ascii_1m, Shape::ascii, 1024 * 1024);
RELAY_MESSAGE_BENCH(bdat_pass, utf8_heavy_10k, Shape::utf8_heavy, 10 * 1024);
RELAY_MESSAGE_BENCH(bdat_pass, dotted_100k, Shape::dotted, 100 * 1024);
RELAY_MESSAGE_BENCH(bdat_pass, tabbed_100k, Shape::tabbed, 100 * 1024);

#define RELAY_SCAN_BENCH(name, multipart, size)                                                  \
    BENCHMARK_CAPTURE(charset_scan, name##_scan, multipart, size, true)->Arg(16384)->Arg(65536); \
    BENCHMARK_CAPTURE(charset_scan, name##_no_scan, multipart, size, false)->Arg(16384)->Arg(65536)

RELAY_SCAN_BENCH(ascii_10k, false, 10 * 1024);
RELAY_SCAN_BENCH(ascii_1m, false, 1024 * 1024);
RELAY_SCAN_BENCH(multipart_20k, true, 20 * 1024);
RELAY_SCAN_BENCH(multipart_1m, true, 1024 * 1024);

}  // namespace
