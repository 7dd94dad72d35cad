// config.h -- relayd's configuration: one TOML file, loaded once, then immutable.
//
// Every limit is a named value with a default, bounds and a unit in its name; unknown keys are
// errors, and every error names the key ("limits.command_line_bytes_max: ..."). Relative paths
// resolve against the folder of the config file. docs/configuration.md lists every key;
// config/relayd.example.toml shows them all with comments.
//
// Every value is checked completely at load (ranges, host names, addresses, ports) and kept
// parsed, so that a file `relayd --check-config` accepts cannot fail later and no worker ever
// converts text. A loaded Config is never changed: on SIGHUP a new one is loaded and swapped in
// whole (config/reload.h).
//
// Thread: loaded on the main thread; afterwards shared read-only by every thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/base/result.h"
#include "relay/config/values.h"
#include "relay/engine/socket_address.h"
#include "relay/message/message_pass.h"

namespace relay::config {

struct Server {
    std::string hostname;  // greeting, EHLO, Received
    int workers = 0;       // 0: one per CPU
    std::string log_level = "info";
    std::uint32_t shutdown_grace_s = 30;
    // Privilege drop: started as root, relayd binds its listeners, then runs as this user
    // (and group: default the user's primary group). Empty: keep the identity it started with.
    std::string user;
    std::string group;
    bool operator==(const Server&) const = default;
};

// Whether a listener's clients must log in (SMTP AUTH) before MAIL.
enum class ListenerAuth {
    off,       // no AUTH, no tenant: any sender, from the clients the listener admits
    required,  // AUTH as a tenant's resource; the sender's domains are that resource's
};

// 127.0.0.0/8 and ::1/128: the clients a listener admits unless told otherwise.
std::vector<Cidr> loopback_networks();

// How a listener speaks TLS: not at all, after STARTTLS (RFC 3207), or from the first byte
// (implicit TLS, port 465 style, RFC 8314).
enum class ListenerTls { none, starttls, implicit };

// What a listener is for: the tenants' mail to relay (the default), or the reports (bounces,
// complaints) that come back to [return_path] bounce_domain (docs/bounces.md). A bounce listener
// takes no AUTH, admits every client and accepts only the bounce domain's addresses.
enum class ListenerRole { relay, bounce };

struct Listener {
    std::string name;
    engine::SocketAddress address;
    message::BareLineEndings bare_line_endings = message::BareLineEndings::reject;
    ListenerTls tls = ListenerTls::none;
    ListenerRole role = ListenerRole::relay;
    // Off by default, as a listener admits only loopback clients by default; the example
    // configuration requires AUTH.
    ListenerAuth auth = ListenerAuth::off;
    // AUTH offered without TLS: passwords in the clear, so only where the network is trusted
    // (loopback). Without it, AUTH waits for TLS.
    bool auth_plaintext = false;
    // The client networks admitted; others get 554 5.7.1 at connect. Never empty (the loader
    // refuses an empty list): loopback by default, which is what makes auth = "off" safe.
    std::vector<Cidr> clients = loopback_networks();

    // Behind a load balancer (docs/cluster.md): each connection starts with a PROXY protocol
    // header (v1 or v2) naming the real client, which is then what `clients`, the connection
    // limits, the logs and Received: see. Only the balancers in `proxy_from` may connect (never
    // empty when proxy_protocol is on); the header must arrive within proxy_header_timeout_s
    // and fit in proxy_header_bytes_max (v2 extensions make it variable; a larger one is a
    // balancer misconfigured or a peer that is not one).
    bool proxy_protocol = false;
    std::vector<Cidr> proxy_from;
    std::uint32_t proxy_header_timeout_s = 5;
    std::uint32_t proxy_header_bytes_max = 1024;
    bool operator==(const Listener&) const = default;
};

struct Limits {
    std::uint32_t command_line_bytes_max = 512;
    std::uint32_t recipients_per_message_max = 1000;
    std::uint64_t message_bytes_max = 0;  // 0: no limit (SIZE advertised only when set)
    std::uint32_t header_bytes_max = 256 * 1024;
    std::uint32_t message_line_bytes_max = 998;  // RFC 5322 §2.1.1, CRLF excluded; 0: no limit
    std::uint32_t errors_per_session_max = 10;
    std::uint32_t connections_max = 10000;
    std::uint32_t connections_per_client_max = 100;
    std::uint32_t pending_input_bytes_max = 64 * 1024;
    // Replies a session holds for a client that does not read them; above it, reading pauses.
    std::uint32_t session_output_bytes_max = 64 * 1024;
    // Message bytes a session has waiting for the disk; above it, reading pauses.
    std::uint64_t session_unwritten_bytes_max = 1ull << 20;
    // Slowest message data accepted, averaged over the data phase (0: no minimum).
    std::uint32_t data_bytes_per_s_min = 1024;
    bool require_valid_utf8 = true;
    // Declared charsets other than UTF-8 / US-ASCII are refused (message/mime_scanner.h), in MIME
    // parts nested at most mime_depth_max deep.
    bool require_utf8_charsets = true;
    std::uint32_t mime_depth_max = 20;

    // Failed AUTH attempts, per client address and per username (policy/login_throttle.h).
    std::uint32_t auth_failures_before_delay = 3;  // 0: no delay
    std::uint32_t auth_failure_delay_ms = 1000;    // doubles with each further failure
    std::uint32_t auth_failure_delay_ms_max = 30000;
    std::uint32_t auth_failures_before_lockout = 10;  // 0: no lockout
    std::uint32_t auth_failure_window_s = 900;
    std::uint32_t auth_lockout_s = 900;
    std::uint32_t auth_throttle_slots = 65536;  // a power of two

    // New connections from one client address in any minute (0: no limit); read at start.
    std::uint32_t connections_per_client_per_minute = 0;
    // Connections logged in as one resource at once (0: no limit).
    std::uint32_t connections_per_resource_max = 0;
    bool operator==(const Limits&) const = default;
};

struct Timeouts {
    std::uint32_t command_s = 300;         // RFC 5321 §4.5.3.2.7
    std::uint32_t data_s = 300;            // waiting for the next piece of message data
    std::uint32_t transaction_s = 1800;    // from MAIL to the end of the data
    std::uint32_t data_rate_grace_s = 30;  // data time before the minimum rate applies
    std::uint32_t close_s = 10;            // for the last replies to be read before closing
    bool operator==(const Timeouts&) const = default;
};

struct Spool {
    std::string path;  // absolute after loading
    std::uint64_t segment_bytes_max = 256ull << 20;
    std::uint32_t chunk_bytes = 1u << 20;
    std::uint64_t cache_bytes_max = 256ull << 20;  // message bodies kept in memory, per process
    bool operator==(const Spool&) const = default;
};

// The tenant store (LMDB) and how often relayd looks for changes made with relayctl.
struct Store {
    std::string path;  // absolute after loading; default: "store" next to the spool folder
    std::uint64_t map_bytes = 1ull << 30;
    std::uint32_t refresh_interval_ms = 1000;
    bool operator==(const Store&) const = default;
};

// Password hashing (Argon2id) and the threads that check logins off the workers' loops.
struct Credentials {
    std::uint32_t argon2_memory_kib = 19 * 1024;
    std::uint32_t argon2_iterations = 2;
    std::uint32_t argon2_parallelism = 1;
    std::uint32_t hash_threads = 2;
    std::uint32_t hash_queue_max = 1024;
    std::uint32_t remembered_logins_max = 10000;  // per worker
    bool operator==(const Credentials&) const = default;
};

// Outbound TLS (docs/delivery.md, "Outbound TLS policy"): dane demands TLS verified against the
// host's DNSSEC-validated TLSA records (RFC 7672), mta_sts an MTA-STS policy (RFC 8461).
enum class TlsPolicy { none, opportunistic, required, dane, mta_sts };

struct Route {
    std::string domain;  // a recipient domain, or "*" for every domain (smarthost)
    std::string host;    // "IP:PORT" or "name:port" (resolved through DNS, A/AAAA)
    Endpoint endpoint;   // `host` parsed
    TlsPolicy tls = TlsPolicy::opportunistic;
    std::string auth_username;
    std::string auth_password;
    bool operator==(const Route&) const = default;
};

// Limits for the mail to one destination (docs/delivery.md, "Shaping"), shared by all workers.
struct Shaping {
    std::string domain;  // a recipient domain, lower case; also matches its subdomains
    std::uint32_t connections_max = 0;              // 0: [delivery] connections_per_host_max
    std::uint32_t messages_per_connection_max = 0;  // 0: [delivery] messages_per_connection_max
    std::uint32_t messages_per_second = 0;          // 0: no rate limit
    bool dane = true;  // false: no TLSA lookups for this destination (docs/delivery.md, DANE)
    // Outbound TLS for the domain: unset follows [delivery] tls and mta_sts.
    std::optional<TlsPolicy> tls;
    std::optional<bool> mta_sts;
    bool operator==(const Shaping&) const = default;
};

struct Delivery {
    std::vector<std::string> resolvers;  // "IP:PORT"; empty: /etc/resolv.conf
    std::uint32_t dns_timeout_ms = 5000;
    std::uint16_t port = 25;
    TlsPolicy tls = TlsPolicy::opportunistic;
    std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
    std::vector<std::uint32_t> retry_schedule_s = {60, 300, 900, 1800, 3600, 7200, 14400};
    std::uint32_t maximum_age_s = 5 * 24 * 3600;
    std::uint32_t connections_per_host_max = 20;
    std::uint32_t messages_per_connection_max = 1000;
    std::uint32_t hosts_per_domain_max = 10;
    // A message is read from the spool and sent in pieces of this size; an outbound connection
    // holds a few of them, whatever the message's size.
    std::uint32_t body_piece_bytes = 128 * 1024;
    std::uint32_t connect_timeout_s = 30;
    std::uint32_t greeting_timeout_s = 300;         // RFC 5321 §4.5.3.2.1
    std::uint32_t command_timeout_s = 300;          // MAIL, RCPT: §4.5.3.2.2-3
    std::uint32_t data_timeout_s = 120;             // DATA initiation: §4.5.3.2.4
    std::uint32_t block_timeout_s = 180;            // each data block: §4.5.3.2.5
    std::uint32_t final_timeout_s = 600;            // after the final dot: §4.5.3.2.6
    std::uint32_t tls_plaintext_fallback_s = 3600;  // remember a host that failed STARTTLS
    std::vector<Route> routes;
    // DNS answers are kept for their TTL, bounded by these; state of an idle destination is
    // dropped after destination_idle_s.
    std::uint32_t dns_ttl_s_min = 30;
    std::uint32_t dns_ttl_s_max = 3600;
    std::uint32_t destination_idle_s = 300;
    std::vector<Shaping> shaping;
    // DANE (RFC 7672): the resolvers above validate DNSSEC and are trusted to say so with the
    // AD bit, on a path nobody can tamper with (loopback); TLSA records then bind MX hosts'
    // certificates. Off by default: an AD bit from an untrusted resolver means nothing.
    bool dane = false;
    // MTA-STS (RFC 8461): look up and apply the recipient domain's policy; the policy's HTTPS
    // port (443; another for tests), how long a fetch may take, how many policies are kept.
    bool mta_sts = true;
    std::uint16_t mta_sts_port = 443;
    std::uint32_t mta_sts_fetch_timeout_s = 10;
    std::uint32_t mta_sts_policies_max = 10000;
    // RFC 8461 §5.1: cached policies are fetched again before they expire, at this interval or
    // at half their max_age, whichever comes first.
    std::uint32_t mta_sts_refresh_interval_s = 86400;
    bool operator==(const Delivery&) const = default;
};

// Inbound TLS ([tls]): the certificate every TLS listener presents. Required as soon as one
// listener has tls = "starttls" or "implicit"; reloadable without a restart.
enum class TlsVersion { tls1_2, tls1_3 };
struct InboundTls {
    std::string certificate_chain_file;  // PEM, absolute after loading; empty: none
    std::string private_key_file;        // PEM, absolute after loading
    TlsVersion version_min = TlsVersion::tls1_2;
    std::uint32_t handshake_timeout_s = 30;  // from the start of the handshake to its end
    bool operator==(const InboundTls&) const = default;
};

// Sending recommendations: past them a message is still accepted, and the 250 and the log say so.
struct Recommendations {
    std::uint32_t recipients_per_message_max = 5;  // 0: no advice
    std::uint64_t message_bytes_max = 10'000'000;  // 0: no advice
    bool operator==(const Recommendations&) const = default;
};

// [return_path]: the technical bounce address (VERP, bounce/verp.h). Without bounce_domain the
// envelope sender goes out as the client gave it.
struct ReturnPath {
    std::string bounce_domain;  // lower case; empty: no VERP
    std::string key;            // the HMAC key's bytes (from hex), at least 16
    std::string key_file;       // absolute after loading; empty when the key is inline
    bool operator==(const ReturnPath&) const = default;
};

// DKIM signing (docs/dkim.md): which fields are signed, the signatures' lifetime, and the
// signing thread that keeps RSA's cost off the workers.
struct Dkim {
    // Lower case, in h= order; each is signed when present, "from" always (and once more).
    std::vector<std::string> signed_headers = {"from",
                                               "to",
                                               "cc",
                                               "subject",
                                               "date",
                                               "message-id",
                                               "mime-version",
                                               "content-type",
                                               "content-transfer-encoding",
                                               "reply-to",
                                               "in-reply-to",
                                               "references",
                                               "list-unsubscribe",
                                               "list-unsubscribe-post"};
    std::uint32_t expiration_s = 0;          // x= is t= plus this; 0: no x=
    std::uint32_t signing_threads = 0;       // 0: one per worker
    std::uint32_t signing_queue_max = 1024;  // messages waiting; past it the worker signs
    bool operator==(const Dkim&) const = default;
};

// Cluster mode: several relayd nodes sharing the rate limits through Redis (docs/cluster.md).
// `enabled` only when the file has a [cluster] section; without one nothing of this runs.
struct Cluster {
    bool enabled = false;
    std::string redis = "127.0.0.1:6379";  // "HOST:PORT", "[IPV6]:PORT" or a unix socket path
    std::string password;                  // empty: no AUTH
    std::string node_id;                   // default: the server hostname
    std::uint32_t connect_timeout_ms = 1000;
    std::uint32_t command_timeout_ms = 1000;  // a reply later than this drops the connection
    std::uint32_t reconnect_ms_min = 100;     // backoff doubles from this ...
    std::uint32_t reconnect_ms_max = 5000;    // ... up to this
    // How long leased budget keeps serving without Redis; also a lease's lifetime.
    std::uint32_t grace_ms = 10000;
    std::uint32_t lease_units_max = 256;  // units one lease may carry
    // Tenants, credentials, domains, DKIM keys, stop lists, statistics, admin tokens and the
    // Message-ID index live in Redis (docs/cluster.md); false: each node keeps its own store and
    // only the rate limit is shared.
    bool shared_store = true;
    bool operator==(const Cluster&) const = default;
};

// [bounces]: what the bounce listener does with the reports it receives (docs/bounces.md).
struct Bounces {
    // Bytes of one report kept and parsed; the rest is read and dropped (the report is still
    // answered 250 and parsed as far as it was kept).
    std::uint64_t message_bytes_max = 1ull << 20;
    // This many soft bounces in a row for one recipient count as a hard bounce; 0: never.
    std::uint32_t soft_bounces_to_hard = 5;
    // Recipients whose soft bounces are followed at once; past it the stalest run is forgotten.
    std::uint32_t soft_bounce_recipients_max = 100000;
    // The Message-ID index of sent mail: how long an entry is kept, how many at most, and how
    // many recipients of one message it keeps.
    std::uint32_t message_index_s = 30 * 86400;
    std::uint64_t message_index_entries_max = 1'000'000;
    std::uint32_t message_index_recipients_max = 50;
    // Reports nobody could read, kept in <spool>/bounces-unparsed/; past it the oldest go.
    std::uint32_t unparsed_files_max = 1000;
    // Reports waiting for the processor; past it the listener answers 451 4.3.0.
    std::uint32_t queue_max = 1024;
    // Octets of reports waiting for the processor or in its batch; past it, 451 4.3.0 too. With
    // queue_max alone, reports could hold 2 x queue_max x message_bytes_max (2 GiB).
    std::uint64_t queue_bytes_max = 64ull << 20;
    // Open connections to bounce listeners, all of them together and from one address: counted
    // apart from [limits], so that a flood on the public bounce port cannot take the slots of
    // the customers' submissions (nor theirs those of the reports).
    std::uint32_t connections_max = 1000;
    std::uint32_t connections_per_client_max = 20;
    // Local parts of the bounce domain that take complaints without a token (feedback loops).
    std::vector<std::string> complaint_local_parts = {"complaints"};
    bool operator==(const Bounces&) const = default;
};

// [admin]: the HTTP/JSON admin API and Prometheus /metrics (docs/admin-api.md), on a thread
// of its own. Off unless `listen` is set; TLS when both certificate files are given.
struct Admin {
    bool enabled = false;                  // `listen` given and not empty
    engine::SocketAddress listen;          // loopback in the example configuration
    bool metrics_separate = false;         // `metrics_listen` given and not empty
    engine::SocketAddress metrics_listen;  // /metrics alone, without a token
    std::string certificate_chain_file;    // PEM, absolute after loading; empty: plain HTTP
    std::string private_key_file;          // PEM, absolute after loading
    std::uint32_t page_items_max = 1000;   // the most one page of a list may hold
    std::uint32_t request_bytes_max = 1 << 20;
    std::uint32_t threads = 8;
    // The dashboard's files (index.html, dashboard.js, uPlot's), absolute after loading; absent:
    // where the build installs them (meson's datadir/relay/dashboard).
    std::string dashboard_dir;
    bool operator==(const Admin&) const = default;
};

struct Config {
    std::string file;  // absolute path of the file loaded
    Server server;
    std::vector<Listener> listeners;
    Limits limits;
    Timeouts timeouts;
    Spool spool;
    Delivery delivery;
    Store store;
    Credentials credentials;
    InboundTls tls;
    Recommendations recommendations;
    ReturnPath return_path;
    Dkim dkim;
    Cluster cluster;
    Bounces bounces;
    Admin admin;
};

Result<Config> load(const std::string& path);
// Parses TOML text; relative paths resolve against `base_folder`. Reads no file, so that tests
// and the fuzz harness need none.
Result<Config> parse(std::string_view text, const std::string& base_folder,
                     const std::string& file_name);

}  // namespace relay::config
