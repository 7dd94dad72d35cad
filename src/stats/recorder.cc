// recorder.cc -- the workers' statistics tables and their hand-over to the flusher.
//
// Key layout in a table: RESOURCE \0 DOMAIN \0 MINUTE (8 bytes, native order); built in the
// worker's scratch string, so a count allocates only when its key is new since the last flush.
//
// Thread: see recorder.h. The worker's path holds no lock and makes no system call.
#include "relay/stats/recorder.h"

#include <cstring>
#include <thread>

namespace relay::stats {
namespace {

void make_key(std::string& key, std::string_view resource, std::string_view domain,
              std::uint64_t minute) {
    key.clear();
    key.append(resource);
    key.push_back('\0');
    for (char c : domain) {  // domains are counted in lower case, as the tenant store keeps them
        key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    key.push_back('\0');
    key.append(reinterpret_cast<const char*>(&minute), sizeof minute);
}

void add_delta(std::vector<store::StatsDelta>& into, store::StatsScopeKind kind,
               std::string_view name, std::uint64_t minute, const store::StatsCounts& counts) {
    into.push_back(store::StatsDelta{store::StatsScope{kind, std::string(name)}, minute, counts});
}

}  // namespace

WorkerCounter::WorkerCounter(std::size_t keys_max) : keys_max_(keys_max) {}

void WorkerCounter::count(std::string_view resource, std::string_view domain,
                          store::StatsCounter counter, std::uint64_t now_s, std::uint64_t amount) {
    const std::uint64_t minute = now_s / 60;
    const auto index = static_cast<std::size_t>(counter);
    busy_.store(true, std::memory_order_seq_cst);
    internal::Table& table = tables_[active_.load(std::memory_order_seq_cst)];
    make_key(key_, resource, domain, minute);
    auto found = table.find(std::string_view(key_));
    if (found == table.end() && table.size() >= keys_max_) {
        make_key(key_, {}, {}, minute);  // over the bound: the count goes to no resource
        found = table.find(std::string_view(key_));
    } else if (found == table.end()) {
        found = table.emplace(key_, store::StatsCounts{}).first;
    }
    if (found != table.end()) {
        found->second[index] += amount;
    } else {
        dropped_.fetch_add(amount, std::memory_order_relaxed);
    }
    busy_.store(false, std::memory_order_seq_cst);
}

void WorkerCounter::drain(std::vector<store::StatsDelta>& into) {
    const int old = active_.load(std::memory_order_seq_cst);
    active_.store(1 - old, std::memory_order_seq_cst);
    // A count that read the old index is still running: wait for it (a few hundred ns).
    while (busy_.load(std::memory_order_seq_cst)) {
        std::this_thread::yield();
    }
    internal::Table& table = tables_[old];
    for (const auto& [key, counts] : table) {
        std::size_t first = key.find('\0');
        std::size_t second = key.find('\0', first + 1);
        std::uint64_t minute = 0;
        std::memcpy(&minute, key.data() + second + 1, sizeof minute);
        std::string_view view(key);
        std::string_view resource = view.substr(0, first);
        std::string_view domain = view.substr(first + 1, second - first - 1);
        add_delta(into, store::StatsScopeKind::resource, resource, minute, counts);
        if (!domain.empty()) {
            add_delta(into, store::StatsScopeKind::domain, domain, minute, counts);
        }
    }
    table.clear();
}

Recorder::Recorder(int workers, std::size_t keys_max) {
    for (int index = 0; index < workers; ++index) {
        workers_.push_back(std::make_unique<WorkerCounter>(keys_max));
    }
}

std::vector<store::StatsDelta> Recorder::drain() {
    std::vector<store::StatsDelta> deltas;
    for (const auto& worker : workers_) {
        worker->drain(deltas);
    }
    return deltas;
}

std::uint64_t Recorder::dropped() const {
    std::uint64_t sum = 0;
    for (const auto& worker : workers_) {
        sum += worker->dropped();
    }
    return sum;
}

}  // namespace relay::stats
