// resolver.h -- asynchronous DNS lookups (MX, A, AAAA, TXT) for delivery, on c-ares, driven by the
// owner's event loop.
//
// Threads: one Resolver per worker thread, used only by the thread that created it (c-ares
// channels are not shared). Never blocks after create(): queries go out on non-blocking sockets
// that the owner watches through the FdWatcher seam. create() itself reads /etc/resolv.conf
// when no servers are given: call it at start-up, not on the data path.
//
// Untrusted bytes: DNS answers (parsed by c-ares; names are re-validated with
// normalize_dns_name before they are used) and the names looked up, which come from recipient
// addresses. RFC 1035 (messages), RFC 6891 (EDNS0 payload size), RFC 5321 §5.1 (what MX
// delivery asks of DNS); the interpretation of MX answers lives in mx_plan.h.
//
// The loop contract (an epoll loop, io_uring polls, or the poll(2) loop of the tests):
//
//   * The resolver calls FdWatcher::watch(fd, readable, writable) whenever c-ares opens a socket
//     or changes what it waits for; (false, false) means "stop watching, the fd is about to be
//     closed". The owner watches the fd and, when it is ready, calls on_ready(fd, readable,
//     writable); errors and hang-ups are reported as readable, so that c-ares reads the error.
//   * After any call into the resolver, the owner reads next_timeout() and calls on_timeout()
//     once that much time has passed without on_ready(). nullopt: nothing to wait for.
//   * User callbacks run only from on_ready(), on_timeout() and deliver_completions(); never from
//     inside lookup_*(), cancel() or cancel_all(), and never from inside c-ares. A lookup that
//     finishes without any network traffic (an invalid name, a local failure) is queued and makes
//     next_timeout() zero, so the next on_timeout() delivers it.
//   * Each accepted lookup ends in exactly one callback, unless it is cancelled: cancel(),
//     cancel_all() and destruction drop the callbacks silently (they are destroyed, never
//     invoked). A callback may start new lookups and cancel others; it must not destroy the
//     resolver nor call on_ready/on_timeout/deliver_completions (asserted).
//
// Limits: at most lookups_in_flight_max lookups are in c-ares at once (an address lookup for
// both families is one lookup of two queries); further ones wait in a FIFO of at most
// lookups_waiting_max. Beyond that, lookup_*() fails at once (a temporary condition: retry
// later) and keeps nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"
#include "relay/delivery/resolver_types.h"
#include "relay/delivery/tlsa_answer.h"

namespace relay::delivery {

// Implemented by the resolver's owner: the event loop.
class FdWatcher {
  public:
    virtual ~FdWatcher() = default;
    // Start, change or (both false) stop watching `fd`. Called from inside resolver calls,
    // destructor included; must not call back into the resolver.
    virtual void watch(int fd, bool readable, bool writable) = 0;
};

struct ResolverOptions {
    // "IP", "IP:PORT", "[IPv6]:PORT" (port 53 when absent). Empty: the nameservers of
    // /etc/resolv.conf. Tried in order; a timeout moves the query to the next one.
    std::vector<std::string> servers;
    // Wait for the first try of a query, 1..60000. c-ares doubles it after each round over all
    // servers: with one server, tries 3 and 2000 ms a dead server costs 2 + 4 + 8 = 14 s.
    std::uint32_t timeout_ms = 2000;
    // Rounds over the servers, 1..10.
    std::uint32_t tries = 3;
    // Lookups in c-ares at once, 1..4096.
    std::uint32_t lookups_in_flight_max = 64;
    // Lookups waiting for a slot, 0..1048576; beyond, lookup_*() fails at once.
    std::uint32_t lookups_waiting_max = 1024;
    // Addresses kept per family per lookup, 1..64; the rest of a large answer is ignored.
    std::uint32_t addresses_per_family_max = 16;
    // EDNS0 UDP payload size advertised, 512..4096; larger answers come over TCP. 1232 avoids
    // IP fragmentation (the DNS flag day 2020 value).
    std::uint32_t udp_payload_bytes_max = 1232;
};

using LookupId = std::uint64_t;  // never 0
using MxCallback = std::function<void(MxLookup)>;
using AddressCallback = std::function<void(AddressLookup)>;
using TlsaCallback = std::function<void(TlsaLookup)>;
using TxtCallback = std::function<void(TxtLookup)>;

class Resolver {
  public:
    // Errors: an option out of its bounds or a malformed server (the message names it), or
    // c-ares failing to start (no memory, unreadable resolv.conf).
    static Result<Resolver> create(const ResolverOptions& options, FdWatcher& watcher);

    Resolver(Resolver&&) noexcept;
    Resolver& operator=(Resolver&&) noexcept;
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;
    // Closes the sockets (telling the watcher, which must still be alive) and drops every
    // outstanding callback without invoking it.
    ~Resolver();

    // MX records of `domain`. The error (the queue is full) is temporary; the callback is then
    // dropped at once.
    [[nodiscard]] Result<LookupId> lookup_mx(std::string_view domain, MxCallback callback);
    // TXT records of `name` (MTA-STS discovery, RFC 8461 §3.1).
    [[nodiscard]] Result<LookupId> lookup_txt(std::string_view name, TxtCallback callback);
    // A and/or AAAA records of `host`.
    [[nodiscard]] Result<LookupId> lookup_addresses(std::string_view host, AddressFamilies families,
                                                    AddressCallback callback);
    // TLSA records of `_PORT._tcp.HOST` (RFC 6698 §3), for DANE.
    [[nodiscard]] Result<LookupId> lookup_tlsa(std::string_view host, std::uint16_t port,
                                               TlsaCallback callback);

    // Drops the lookup's callback; it will never run. False if the id is unknown or its callback
    // already ran. An in-flight query keeps its slot until c-ares finishes with it.
    bool cancel(LookupId id);
    // cancel() for every outstanding lookup.
    void cancel_all();

    void on_ready(int fd, bool readable, bool writable);
    void on_timeout();
    // Runs the callbacks of finished lookups (those queued when the call began).
    void deliver_completions();
    // Time until on_timeout() is due; zero when completions are waiting; nullopt when idle.
    std::optional<std::chrono::milliseconds> next_timeout() const;

    // Lookups accepted whose callback has neither run nor been dropped.
    std::size_t lookups_outstanding() const;

  private:
    struct Impl;
    explicit Resolver(std::unique_ptr<Impl> impl);

    std::unique_ptr<Impl> impl_;
};

}  // namespace relay::delivery
