// privileges.cc -- resolving server.user/server.group and dropping root for good.
#include "privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "relay/base/log.h"

namespace relay {
namespace {

// getpw*_r/getgr*_r want a caller buffer; entries with many members need more than the hint.
constexpr std::size_t lookup_buffer_bytes_max = 1 << 20;

Result<passwd> find_user(const std::string& name, std::vector<char>& buffer) {
    passwd entry{};
    passwd* found = nullptr;
    for (buffer.resize(16384); buffer.size() <= lookup_buffer_bytes_max;
         buffer.resize(buffer.size() * 2)) {
        int error = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (error == ERANGE) {
            continue;
        }
        if (error != 0) {
            return system_error("server.user: cannot look up \"" + name + "\"", error);
        }
        if (found == nullptr) {
            return Error{"server.user: no such user \"" + name + "\""};
        }
        return entry;
    }
    return Error{"server.user: the entry of \"" + name + "\" is too large"};
}

Result<gid_t> find_group(const std::string& name) {
    group entry{};
    group* found = nullptr;
    std::vector<char> buffer;
    for (buffer.resize(16384); buffer.size() <= lookup_buffer_bytes_max;
         buffer.resize(buffer.size() * 2)) {
        int error = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (error == ERANGE) {
            continue;
        }
        if (error != 0) {
            return system_error("server.group: cannot look up \"" + name + "\"", error);
        }
        if (found == nullptr) {
            return Error{"server.group: no such group \"" + name + "\""};
        }
        return entry.gr_gid;
    }
    return Error{"server.group: the entry of \"" + name + "\" is too large"};
}

Result<std::vector<gid_t>> supplementary_groups(const std::string& user, gid_t gid) {
    int count = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    // A second call can find more groups than the first said (the database changed): retry a
    // few times, no more.
    for (int attempt = 0; attempt < 4; ++attempt) {
        if (getgrouplist(user.c_str(), gid, groups.data(), &count) >= 0) {
            groups.resize(static_cast<std::size_t>(count));
            return groups;
        }
        groups.resize(static_cast<std::size_t>(count));  // count now holds the number needed
    }
    return Error{"server.user: cannot read the groups of \"" + user + "\""};
}

}  // namespace

Result<std::optional<RunAs>> plan_identity(const config::Server& server, uid_t effective_uid) {
    if (server.user.empty()) {
        return std::optional<RunAs>();
    }
    std::vector<char> buffer;
    auto user = find_user(server.user, buffer);
    if (!user) {
        return user.error();
    }
    RunAs identity;
    identity.user = server.user;
    identity.uid = user.value().pw_uid;
    identity.gid = user.value().pw_gid;
    if (!server.group.empty()) {
        auto gid = find_group(server.group);
        if (!gid) {
            return gid.error();
        }
        identity.gid = gid.value();
    }
    if (effective_uid != 0) {
        if (identity.uid == effective_uid && identity.gid == getegid()) {
            return std::optional<RunAs>();  // started as that user already (systemd User=)
        }
        return Error{"server.user is \"" + server.user + "\" but relayd was started as uid " +
                     std::to_string(effective_uid) +
                     ", which cannot switch users: start it as root or as " + server.user};
    }
    auto groups = supplementary_groups(identity.user, identity.gid);
    if (!groups) {
        return groups.error();
    }
    identity.groups = std::move(groups.value());
    return std::optional<RunAs>(std::move(identity));
}

Status prepare_folder(const std::string& path, const RunAs& identity) {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
        std::filesystem::create_directories(path, error);
        if (error) {
            return Error{"cannot create folder " + path + ": " + error.message()};
        }
        if (chown(path.c_str(), identity.uid, identity.gid) != 0) {
            return system_error("cannot give folder " + path + " to " + identity.user, errno);
        }
        if (chmod(path.c_str(), 0750) != 0) {
            return system_error("cannot set the mode of folder " + path, errno);
        }
        return {};
    }
    struct stat status {};
    if (stat(path.c_str(), &status) != 0) {
        return system_error("cannot read folder " + path, errno);
    }
    if (status.st_uid != identity.uid) {
        return Error{"folder " + path + " belongs to uid " + std::to_string(status.st_uid) +
                     ", not to server.user " + identity.user + " (fix: chown -R " + identity.user +
                     ": " + path + ")"};
    }
    return {};
}

Status drop_privileges(const RunAs& identity) {
    if (setgroups(identity.groups.size(), identity.groups.data()) != 0) {
        return system_error("cannot set the supplementary groups of " + identity.user, errno);
    }
    if (setresgid(identity.gid, identity.gid, identity.gid) != 0) {
        return system_error("cannot change to group id " + std::to_string(identity.gid), errno);
    }
    if (setresuid(identity.uid, identity.uid, identity.uid) != 0) {
        return system_error("cannot change to user " + identity.user, errno);
    }
    uid_t real = 0;
    uid_t effective = 0;
    uid_t saved = 0;
    gid_t real_group = 0;
    gid_t effective_group = 0;
    gid_t saved_group = 0;
    if (getresuid(&real, &effective, &saved) != 0 ||
        getresgid(&real_group, &effective_group, &saved_group) != 0 || real != identity.uid ||
        effective != identity.uid || saved != identity.uid || real_group != identity.gid ||
        effective_group != identity.gid || saved_group != identity.gid) {
        return Error{"the change to user " + identity.user + " did not take effect"};
    }
    if (identity.uid != 0 && setuid(0) == 0) {
        return Error{"root could be regained after changing to user " + identity.user};
    }
    return {};
}

Status become(const std::optional<RunAs>& identity, const std::vector<std::string>& folders) {
    if (!identity) {
        if (geteuid() == 0) {
            log::warning("running as root: set server.user to run unprivileged");
        }
        return {};
    }
    for (const std::string& folder : folders) {
        if (Status prepared = prepare_folder(folder, *identity); !prepared) {
            return prepared;
        }
    }
    if (Status dropped = drop_privileges(*identity); !dropped) {
        return dropped;
    }
    log::info("running as user {} (uid {}, gid {})", identity->user, identity->uid, identity->gid);
    return {};
}

}  // namespace relay
