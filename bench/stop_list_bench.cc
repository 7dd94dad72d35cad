// stop_list_bench.cc -- stop-list lookups per second at 1,000, 1 million and (optionally) 10
// million entries: the LMDB reader relayd's workers use, against the alternative it was chosen
// over, an immutable in-memory hash set, and what rebuilding that set for one change would cost.
//
// One list of N entries on one resource (a tenth of them whole domains), built once per size in
// a temporary folder with bulk adds in sorted order. One iteration is one RCPT's lookup: the
// resource's address, its domain, the global address, the global domain (four point reads; a
// hit stops early). Recipients are drawn from 65,536 prepared ones, half on the list and half
// not, in random order, so the caches see what a busy worker sees rather than one hot key.
//
// RELAY_STOP_BENCH_10M=1 adds the 10 million size (building it takes about a minute and 3 GB of
// disk); RELAY_STOP_BENCH_DIR picks the folder (default /tmp).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "relay/store/lmdb_tenant_store.h"

namespace {

using relay::store::StopEntry;
using relay::store::StopListReader;
using relay::store::TenantStore;

constexpr std::uint64_t now_s = 1'800'000'000;
constexpr std::size_t probes = 65'536;
constexpr const char* resource = "bench/main";
constexpr std::size_t build_batch = 1'000'000;

// Entry i: every tenth a whole domain, else user<i>@d<i/10>.example.
relay::store::StopAddress address_of(std::size_t index) {
    char domain[32];
    std::snprintf(domain, sizeof domain, "d%08zu.example", index / 10);
    if (index % 10 == 0) {
        return {domain, ""};
    }
    char local[32];
    std::snprintf(local, sizeof local, "user%08zu", index);
    return {domain, local};
}

struct List {
    std::filesystem::path folder;
    std::unique_ptr<TenantStore> store;
    std::vector<std::string> recipients;  // probes, half listed
    double build_s = 0;

    ~List() {
        store.reset();
        std::filesystem::remove_all(folder);
    }
};

std::unique_ptr<List> build(std::size_t size) {
    auto list = std::make_unique<List>();
    const char* base = std::getenv("RELAY_STOP_BENCH_DIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/relay-stop-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::abort();
    }
    list->folder = pattern;
    auto store = relay::store::open_lmdb_tenant_store({pattern + "/store", 16ull << 30});
    if (!store || !store.value()->add_project("bench", {}) ||
        !store.value()->add_resource(resource, "hash")) {
        std::abort();
    }
    list->store = std::move(store.value());
    auto started = std::chrono::steady_clock::now();
    std::vector<StopEntry> batch;
    for (std::size_t index = 0; index < size; ++index) {
        batch.push_back(StopEntry{resource, address_of(index),
                                  relay::store::StopReason::hard_bounce, now_s - 1, 0});
        if (batch.size() == build_batch || index + 1 == size) {
            if (!list->store->stop_lists().add_stops(batch)) {
                std::abort();
            }
            batch.clear();
        }
    }
    list->build_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::mt19937_64 random(size);
    for (std::size_t probe = 0; probe < probes; ++probe) {
        std::size_t index = random() % size;
        if (index % 10 == 0) {
            ++index;  // an address under a listed domain would hit too: keep the halves honest
        }
        relay::store::StopAddress address = address_of(index);
        std::string local = probe % 2 == 0 ? address.local : address.local + "x";
        if (probe % 2 == 1) {
            address.domain = "x" + address.domain;  // nor its domain
        }
        list->recipients.push_back(local + "@" + address.domain);
    }
    return list;
}

// One list per size for the whole run.
List& list_of(std::size_t size) {
    static std::map<std::size_t, std::unique_ptr<List>> lists;
    auto& list = lists[size];
    if (!list) {
        list = build(size);
    }
    return *list;
}

void BM_LmdbReaderLookup(benchmark::State& state) {
    List& list = list_of(static_cast<std::size_t>(state.range(0)));
    std::unique_ptr<StopListReader> reader = std::move(list.store->stop_lists().reader().value());
    std::size_t probe = static_cast<std::size_t>(state.thread_index()) * 7919;
    std::size_t hits = 0;
    for (auto _ : state) {
        auto found = reader->find(resource, list.recipients[probe % probes], now_s);
        hits += found && found.value() ? 1 : 0;
        ++probe;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["hit_ratio"] =
        benchmark::Counter(static_cast<double>(hits) / static_cast<double>(state.iterations()),
                           benchmark::Counter::kAvgThreads);
    state.counters["build_s"] = benchmark::Counter(list.build_s, benchmark::Counter::kAvgThreads);
}

// The in-memory alternative: every key of the list in one hash set, the same four probes.
struct MemorySet {
    std::unordered_set<std::string> keys;
    double build_s = 0;
};

std::unique_ptr<MemorySet> memory_set_of(List& list) {
    auto set = std::make_unique<MemorySet>();
    auto started = std::chrono::steady_clock::now();
    std::string key;
    relay::Status read =
        list.store->stop_lists().for_each_stop(resource, [&](const StopEntry& entry) {
            key = entry.scope + '\0' + entry.address.domain + '\0' + entry.address.local;
            set->keys.insert(key);
        });
    if (!read) {
        std::abort();
    }
    set->build_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return set;
}

bool memory_lookup(const MemorySet& set, std::string& key, std::string_view recipient) {
    std::size_t at = recipient.rfind('@');
    std::string_view domain = recipient.substr(at + 1);
    for (std::string_view scope : {std::string_view(resource), std::string_view()}) {
        for (std::string_view local : {recipient.substr(0, at), std::string_view()}) {
            key.assign(scope);
            key += '\0';
            key += domain;
            key += '\0';
            key += local;
            if (set.keys.contains(key)) {
                return true;
            }
        }
    }
    return false;
}

void BM_MemorySetLookup(benchmark::State& state) {
    List& list = list_of(static_cast<std::size_t>(state.range(0)));
    static std::map<std::int64_t, std::unique_ptr<MemorySet>> sets;  // one thread: no race
    std::unique_ptr<MemorySet>& built = sets[state.range(0)];
    if (!built) {
        built = memory_set_of(list);
    }
    const MemorySet& set = *built;
    std::string key;
    std::size_t probe = 0;
    std::size_t hits = 0;
    for (auto _ : state) {
        hits += memory_lookup(set, key, list.recipients[probe % probes]) ? 1 : 0;
        ++probe;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["hit_ratio"] =
        benchmark::Counter(static_cast<double>(hits) / static_cast<double>(state.iterations()));
    state.counters["rebuild_s"] = set.build_s;
}

void sizes(benchmark::internal::Benchmark* bench) {
    bench->Arg(1'000)->Arg(1'000'000);
    const char* ten_million = std::getenv("RELAY_STOP_BENCH_10M");
    if (ten_million != nullptr && std::string(ten_million) == "1") {
        bench->Arg(10'000'000);
    }
}

BENCHMARK(BM_LmdbReaderLookup)->Apply(sizes)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_MemorySetLookup)->Apply(sizes)->Iterations(2'000'000);

}  // namespace
