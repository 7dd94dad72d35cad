// bounce_bench.cc -- reports parsed per second by the bounce listener's parser, over the real
// bounces and complaints of the shared sample folder (read in place; $RELAY_BOUNCE_SAMPLES, else
// ../shared/data/bounces beside the source tree). Skipped when the folder is absent.
//
// One iteration parses every file once: items_per_second is reports per second, bytes_per_second
// the input rate. A second row parses only the RFC 3464 and ARF files (kinds with a machine-
// readable part), a third only the plain-text bounces, the costliest to read.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "relay/bounce/report.h"

namespace {

namespace fs = std::filesystem;

fs::path samples_folder() {
    const char* configured = std::getenv("RELAY_BOUNCE_SAMPLES");
    if (configured != nullptr && *configured != '\0') {
        return configured;
    }
    return fs::path(RELAY_SOURCE_ROOT) / ".." / "shared" / "data" / "bounces";
}

std::vector<std::string> load_samples() {
    std::vector<std::string> samples;
    fs::path folder = samples_folder();
    if (!fs::is_directory(folder)) {
        return samples;
    }
    std::vector<fs::path> paths;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
        if (entry.path().extension() == ".eml") {
            paths.push_back(entry.path());
        }
    }
    std::sort(paths.begin(), paths.end());
    for (const fs::path& path : paths) {
        std::ifstream stream(path, std::ios::binary);
        std::ostringstream bytes;
        bytes << stream.rdbuf();
        samples.push_back(bytes.str());
    }
    return samples;
}

const std::vector<std::string>& samples() {
    static const std::vector<std::string> loaded = load_samples();
    return loaded;
}

enum class Subset { all, machine_readable, plain_text };

void BM_ParseReports(benchmark::State& state, Subset subset) {
    std::vector<const std::string*> chosen;
    for (const std::string& sample : samples()) {
        relay::bounce::ReportKind kind = relay::bounce::parse_report(sample).kind;
        bool machine_readable = kind == relay::bounce::ReportKind::delivery_status ||
                                kind == relay::bounce::ReportKind::feedback;
        if (subset == Subset::all || (subset == Subset::machine_readable) == machine_readable) {
            chosen.push_back(&sample);
        }
    }
    if (chosen.empty()) {
        state.SkipWithError("no sample folder (set RELAY_BOUNCE_SAMPLES)");
        return;
    }
    std::size_t bytes = 0;
    for (const std::string* sample : chosen) {
        bytes += sample->size();
    }
    for (auto _ : state) {
        for (const std::string* sample : chosen) {
            relay::bounce::Report report = relay::bounce::parse_report(*sample);
            benchmark::DoNotOptimize(report);
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chosen.size()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
    state.counters["reports"] = static_cast<double>(chosen.size());
}

BENCHMARK_CAPTURE(BM_ParseReports, all, Subset::all);
BENCHMARK_CAPTURE(BM_ParseReports, dsn_and_arf, Subset::machine_readable);
BENCHMARK_CAPTURE(BM_ParseReports, plain_text, Subset::plain_text);

}  // namespace
