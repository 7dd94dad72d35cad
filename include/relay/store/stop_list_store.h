// stop_list_store.h -- the stop lists behind an interface: the one place where entries are
// added (by relayctl today, by the bounce processor later), removed, listed and looked up.
//
// Entries live in the tenant store's LMDB environment, in their own database, so that removing
// a resource removes its entries in the same transaction. Writes do not advance the tenant
// generation: the tenant snapshot has nothing to rebuild for them.
//
// Lookups on the workers (StopListReader): each worker owns a reader that keeps one LMDB read
// transaction, reset between lookups and renewed for the next (no lock, no allocation once its
// key buffer has grown, no system call), so a change committed by relayctl is seen by the next
// RCPT. We chose this over an immutable in-memory set swapped on change because a lookup stays
// near a microsecond from a thousand to ten million entries (bench/stop_list_bench.cc, see
// docs/BENCHMARKS.md: 0.24, 0.7 and 1.1 us of CPU at 1k, 1M and 10M entries; a std::unordered_set
// of the same keys took 0.09, 1.5 and 2.2 us), while the set would have to be rebuilt for every
// change (1.2-1.7 s at a million entries, 23 s at ten million), including each entry the bounce
// processor adds. The cost: a lookup touches mapped pages, which the page cache holds for a list
// in use; a page the kernel evicted is a disk read on the worker.
//
// Thread: a StopListStore like its TenantStore (one call at a time, may block); a
// StopListReader belongs to one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "relay/base/result.h"
#include "relay/store/stop_list.h"

namespace relay::store {

class StopListReader {
  public:
    virtual ~StopListReader() = default;
    // Whether `recipient` (local@domain, any case of the domain) is on the global list or on the
    // list of `username` (empty: the global list only), ignoring entries expired at `now_s`.
    virtual Result<std::optional<StopMatch>> find(std::string_view username,
                                                  std::string_view recipient,
                                                  std::uint64_t now_s) = 0;
};

class StopListStore {
  public:
    virtual ~StopListStore() = default;

    // Adds or replaces the entry (same scope and address). A resource scope must exist.
    virtual Status add_stop(const StopEntry& entry) = 0;
    // Adds or replaces all of them in one transaction (bulk import); all or nothing.
    virtual Status add_stops(std::span<const StopEntry> entries) = 0;
    // False when there was no such entry.
    virtual Result<bool> remove_stop(const std::string& scope, const StopAddress& address) = 0;
    // Calls `visit` for each entry of `scope` (empty: global), expired ones included, in key
    // order (domain, then local part), without holding them all in memory.
    virtual Status for_each_stop(const std::string& scope,
                                 const std::function<void(const StopEntry&)>& visit) = 0;
    // The entry that stops `recipient` for `username`, as StopListReader::find, with its scope
    // and address.
    virtual Result<std::optional<StopEntry>> find_stop(const std::string& username,
                                                       std::string_view recipient,
                                                       std::uint64_t now_s) = 0;
    // A reader for one thread; it must not outlive this store. Unlike the other calls, safe from
    // any thread at any time (it only allocates): each worker takes its own as it starts.
    virtual Result<std::unique_ptr<StopListReader>> reader() = 0;
};

}  // namespace relay::store
