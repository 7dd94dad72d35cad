// server_context.h -- the server Context that new inbound TLS sessions are made from, replaced
// whole when the certificate is reloaded.
//
// relayd loads one at start-up when any listener speaks TLS and hands it to every worker. A
// worker takes current() for each handshake it starts; reload() (what SIGHUP calls) reads the
// certificate chain and key again and swaps the new Context in atomically. Handshakes started
// afterwards present the new certificate; sessions already running keep the Context they were
// made from (each session holds its own reference to it), so no connection is dropped. A reload
// that fails (a missing file, a key that does not match) keeps the current Context and says why.
//
// Untrusted bytes: none; the files are the operator's.
// Threads: current() from any worker, lock-free for the callers' purposes (one atomic
// shared_ptr load per handshake); load() and reload() off the workers (they read files), one
// caller at a time.
// Never: leave a moment in which no Context is current, or change a Context sessions use.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "relay/base/result.h"
#include "relay/tls/context.h"

namespace relay::tls {

class ServerContextSlot {
  public:
    // Reads the files named in `config`; errors name the file at fault.
    static Result<std::unique_ptr<ServerContextSlot>> load(const ServerConfig& config);

    ServerContextSlot(const ServerContextSlot&) = delete;
    ServerContextSlot& operator=(const ServerContextSlot&) = delete;

    // The Context for the next handshake; never null.
    std::shared_ptr<const Context> current() const { return current_.load(); }
    // Reads the same paths again; on success new handshakes use the new certificate.
    [[nodiscard]] Status reload();
    // Reloads done since load().
    std::uint64_t generation() const { return generation_.load(); }
    const ServerConfig& config() const { return config_; }

  private:
    ServerContextSlot(const ServerConfig& config, std::shared_ptr<const Context> context);

    ServerConfig config_;
    std::atomic<std::shared_ptr<const Context>> current_;
    std::atomic<std::uint64_t> generation_{0};
};

}  // namespace relay::tls
