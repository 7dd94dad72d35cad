// lmdb_tenant_store.h -- the embedded tenant store: one LMDB environment in a folder.
//
//     <folder>/data.mdb   the B-trees: meta (format, generation), projects, resources, domains,
//                         dkim_keys (private keys: the folder is 0700 and the files 0600)
//     <folder>/lock.mdb   LMDB's reader table, shared by every process that opens the folder
//
// LMDB gives what the store needs without a server: one writer at a time across processes
// (relayctl while relayd runs), readers that never wait for it, and commits that are durable
// and atomic (copy-on-write pages, the meta page written last), so a writer killed at any point
// leaves the last committed state. Values are small JSON objects, readable with mdb_dump.
//
// Thread: the environment is opened with MDB_NOTLS, so a store object may be used from any
// thread, one call at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "relay/base/result.h"
#include "relay/store/tenant_store.h"

namespace relay::store {

struct LmdbOptions {
    std::string folder;                    // created (mode 0700) if missing
    std::uint64_t map_bytes = 1ull << 30;  // the most the data file may grow to
};

Result<std::unique_ptr<TenantStore>> open_lmdb_tenant_store(const LmdbOptions& options);

}  // namespace relay::store
