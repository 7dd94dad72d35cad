// ingress.h -- one worker's SMTP listeners and sessions: the engine meets the SMTP state
// machine and the spool here.
//
// For each accepted connection a Session owns the TCP connection and the pure ServerSession,
// feeds received buffers to it, sends its replies, hands messages to the worker's spool and
// answers only once the spool says they are durable. Idle timeouts are checked by one sweep per
// second over the worker's sessions rather than a timer per command.
//
// Thread: one worker; created and destroyed there.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "relay/base/result.h"
#include "relay/config/config.h"
#include "relay/engine/reactor.h"
#include "relay/engine/tcp_listener.h"
#include "relay/feedback/processor.h"
#include "relay/ingress/connection_limits.h"
#include "relay/ingress/refusal_log.h"
#include "relay/policy/credential_verifier.h"
#include "relay/policy/hash_pool.h"
#include "relay/policy/login_throttle.h"
#include "relay/policy/rate_limiter.h"
#include "relay/policy/tenant_snapshots.h"
#include "relay/smtp/server_session.h"
#include "relay/spool/worker_spool.h"
#include "relay/stats/recorder.h"
#include "relay/stats/tls_versions.h"
#include "relay/store/stop_list_store.h"
#include "relay/tls/server_context.h"

namespace relay::ingress {

// What a worker's sessions need of the tenants: the current snapshot (whose domains a login may
// send as) and the worker's login checker. Null members: no tenant store, so a listener that
// requires AUTH answers 454 to every login.
struct Tenancy {
    const policy::TenantSnapshots* snapshots = nullptr;
    policy::CredentialVerifier* verifier = nullptr;
    policy::LoginThrottle* throttle = nullptr;  // null: failed logins are not throttled
    // Stop lists: each Ingress takes its own reader from it. Null: nothing is listed.
    store::StopListStore* stop_lists = nullptr;
    // Per-resource message rates, shared by every worker; null: not limited.
    policy::RateLimiter* rate_limiter = nullptr;
    // Makes the DKIM signatures off the worker's loop; null: they are made on the worker.
    policy::HashPool* signing_pool = nullptr;
    // This worker's statistics table; null: nothing is counted.
    stats::WorkerCounter* stats = nullptr;
    // The bounce processor: reports from bounce listeners, and the Message-ID of each message
    // accepted for its index. Null: no bounce listener (one configured answers 451).
    feedback::Processor* bounces = nullptr;
    // This worker's TLS version counts (inbound handshakes); null: not counted.
    stats::WorkerTlsVersions* tls_versions = nullptr;
    // Cluster mode's shared store: since when (steady-clock ms) Redis has not answered, 0 while
    // it does (store::ChangeWatcher). Past `store_grace_ms` of silence AUTH fails closed with
    // 454 4.7.0: the snapshot may hold a password changed or a resource removed since. Null:
    // the store is the node's own.
    const std::atomic<std::int64_t>* store_down_since_ms = nullptr;
    std::int64_t store_grace_ms = 0;
    // The connection counts of bounce listeners ([bounces]), shared by every worker; null:
    // they take their slots from the Ingress's limits.
    ConnectionLimits* bounce_limits = nullptr;
};

class Ingress {
  public:
    // `tls` is needed when a listener speaks TLS (listen() fails without it); it outlives the
    // Ingress.
    Ingress(engine::Reactor& reactor, std::shared_ptr<const config::Config> config,
            spool::WorkerSpool& spool, ConnectionLimits& limits, Tenancy tenancy = {},
            const tls::ServerContextSlot* tls = nullptr);
    ~Ingress();
    Ingress(const Ingress&) = delete;
    Ingress& operator=(const Ingress&) = delete;

    // Accepts on `sockets`, one listening socket per configured listener, in the config's order
    // (made by engine::TcpListener::bind_socket before the workers started); owns them from here.
    Status listen(const std::vector<int>& sockets);
    // Binds a socket per configured listener itself, then accepts on them (a process that does
    // not drop privileges between binding and serving).
    Status listen();
    // A reloaded configuration: sessions accepted from now on get its SMTP limits; timeouts and
    // memory bounds apply to every session at the next check; client networks and the
    // balancers of proxy_from to the next accept. Listeners keep their sockets.
    void reconfigure(std::shared_ptr<const config::Config> config);
    // Stops accepting, asks every session to finish (a message in DATA may complete within the
    // grace period), and calls `done` once no session is left.
    void shutdown(std::function<void()> done);
    std::size_t session_count() const { return sessions_.size(); }

  private:
    class Session;
    struct ListenerState {
        const config::Listener* config = nullptr;  // in listening_config_
        // Shared with the sessions accepted under it, which keep it when a reload replaces it.
        std::shared_ptr<const smtp::ServerSettings> settings;
        // The listener's client networks, from the current configuration (they reload).
        std::vector<config::Cidr> clients;
        // The load balancers allowed to send a PROXY header (proxy_protocol), as the clients.
        std::vector<config::Cidr> proxy_from;
        std::unique_ptr<engine::TcpListener> listener;
    };

    void accept(ListenerState& listener, int fd, const engine::SocketAddress& peer);
    // The allowlist and the connection limits for `client` (the socket's peer, or the one a
    // PROXY header named), then the session's greeting or refusal.
    void admit(Session& session, ListenerState& listener, const engine::SocketAddress& client);
    // The connection counts a listener's sessions take their slot from.
    ConnectionLimits& limits_for(const ListenerState& listener);
    void sweep_idle();
    void release(Session* session);
    void maybe_finish_shutdown();

    engine::Reactor& reactor_;
    std::shared_ptr<const config::Config> config_;
    std::shared_ptr<const config::Config> listening_config_;  // the one the listeners opened with
    spool::WorkerSpool& spool_;
    ConnectionLimits& limits_;
    Tenancy tenancy_;
    const tls::ServerContextSlot* tls_;
    std::vector<std::unique_ptr<ListenerState>> listeners_;
    std::unordered_map<Session*, std::unique_ptr<Session>> sessions_;
    std::unordered_set<Session*> waiting_for_spool_;  // paused until the spool writes more
    engine::TimerQueue::TimerId sweep_timer_ = 0;
    bool shutting_down_ = false;
    std::function<void()> shutdown_done_;
    engine::TimerQueue::TimerId grace_timer_ = 0;
    std::unique_ptr<store::StopListReader> stop_reader_;  // this worker's stop-list lookups
    RefusalLog refusal_log_;
};

}  // namespace relay::ingress
