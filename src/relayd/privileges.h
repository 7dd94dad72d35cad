// privileges.h -- who relayd runs as: started as root, it binds its listeners (ports below 1024
// need root), then becomes server.user for good, before it opens a spool file, starts a thread
// or reads a byte from a client.
//
// Thread: the main thread at start-up, while it is the only thread (a set*id call changes the
// whole process, and no other thread may be in the middle of opening a file as root).
//
// Never: keeps a way back to root (saved ids are dropped too), or runs as root without saying so.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "relay/config/config.h"

namespace relay {

struct RunAs {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary, from the group database (as login does)
};

// The identity relayd must take, given server.user/server.group and the effective uid it was
// started with. nullopt: keep the current one (no user configured, or already that user). An
// error when a name is unknown, or when a user other than the current one is configured and
// relayd is not root (it could not switch).
Result<std::optional<RunAs>> plan_identity(const config::Server& server, uid_t effective_uid);

// Makes folder `path` (the spool, the tenant store) usable by `identity`: creates it (mode
// 0750, owned by the user) when missing; refuses a folder owned by another user, naming the
// command that fixes it. Run as root.
Status prepare_folder(const std::string& path, const RunAs& identity);

// Becomes `identity` for good: supplementary groups, then real, effective and saved group and
// user ids; checks afterwards that root cannot be regained.
Status drop_privileges(const RunAs& identity);

// What relayd does at start-up between binding and opening the spool: with an identity, prepares
// `folders` (where relayd writes) and drops to it; without one, warns when it stays root.
Status become(const std::optional<RunAs>& identity, const std::vector<std::string>& folders);

}  // namespace relay
