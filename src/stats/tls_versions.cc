// tls_versions.cc -- TLS versions counted per worker.
//
// Thread: see tls_versions.h. The count_*() calls make no system call and take no lock.
#include "relay/stats/tls_versions.h"

namespace relay::stats {
namespace {

std::size_t slot_of(std::string_view version) {
    if (version.empty()) {
        return 3;  // none
    }
    for (std::size_t index = 0; index < 2; ++index) {
        if (version == tls_version_labels[index]) {
            return index;
        }
    }
    return 2;  // other
}

void add_one(std::atomic<std::uint64_t>& counter) {
    // One writer: a load and a store, no locked instruction.
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace

void WorkerTlsVersions::count_inbound(std::string_view version) {
    add_one(inbound_[slot_of(version)]);
}

void WorkerTlsVersions::count_outbound(std::string_view version) {
    add_one(outbound_[slot_of(version)]);
}

void WorkerTlsVersions::add_to(TlsVersionCounts& into) const {
    for (std::size_t index = 0; index < tls_version_labels.size(); ++index) {
        into.inbound[index] += inbound_[index].load(std::memory_order_relaxed);
        into.outbound[index] += outbound_[index].load(std::memory_order_relaxed);
    }
}

TlsVersions::TlsVersions(int workers) {
    for (int index = 0; index < workers; ++index) {
        workers_.push_back(std::make_unique<WorkerTlsVersions>());
    }
}

TlsVersionCounts TlsVersions::snapshot() const {
    TlsVersionCounts counts;
    for (const auto& worker : workers_) {
        worker->add_to(counts);
    }
    return counts;
}

}  // namespace relay::stats
