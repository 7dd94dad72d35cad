// session.h -- one TLS connection driven entirely through memory: ciphertext in, ciphertext out.
//
// The session never touches a socket. The engine feeds it the ciphertext it received (feed), and
// sends the ciphertext the session produced (output, then consume_output once the send
// completed). Between the two, the caller drives the handshake, reads plaintext into its own
// buffer and writes plaintext. No call blocks: each returns what it needs to make progress
// (Progress::want_input, Progress::want_output) and the caller comes back once it has that.
// After every call the caller should drain output(): a call that returns want_input may still
// have produced bytes for the peer (the ClientHello, a handshake flight, an alert).
//
// Implements the TLS 1.2 (RFC 5246) and TLS 1.3 (RFC 8446) record and handshake layers through
// wolfSSL, server name indication (RFC 6066 section 3) on the client, host name checks (RFC 6125)
// under Verify::opportunistic and Verify::required, and close_notify (RFC 8446 section 6.1).
//
// Untrusted bytes: everything fed in. Garbage fails the session (state failed, a one-line
// reason), never the process.
// Threads: a session belongs to the one thread that created it (an engine worker); sessions of
// different threads are independent.
// Bounds: the input buffer holds at most BufferLimits::input_bytes_max bytes (feed accepts less
// when full), the output buffer at most BufferLimits::output_bytes_max. Both are allocated only
// while non-empty.
// Memory (wolfSSL heap, measured by tests/unit/tls SessionMemory with malloc_usable_size): a new
// server session takes 11 KiB; a client and a server session together peak at 40 KiB during
// their handshake (wolfSSL caps one handshake message at ~37 KiB, which bounds what a hostile
// peer can make it hold); an established, idle session keeps 8.6 KiB on the server side and
// 10 KiB on the client side: the WOLFSSL object itself (4.9 KiB), two AES-GCM contexts (0.9 KiB
// each), the session record and verification parameters, and on the client the server
// certificate. The session's own buffers hold nothing when idle (up to input_bytes_max +
// output_bytes_max while data moves).
// wolfSSL already frees its record buffers after each record unless built with
// LARGE_STATIC_BUFFERS, which would embed two record-sized buffers (over 32 KiB) in every
// session; its static-memory pools (WOLFSSL_STATIC_MEMORY) bound the total but make no session
// smaller; SSL_MODE_RELEASE_BUFFERS is accepted and does nothing. An idle TLS connection
// therefore stays well under the 64 KiB per-connection budget.
// Never: block, write to a socket, allocate per byte, or move output bytes the caller may be
// sending (they move only in consume_output).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/result.h"
#include "relay/tls/context.h"

namespace relay::tls {

enum class State {
    handshaking,
    established,
    closed,  // close_notify sent or received; no more application data
    failed,  // see failure_reason(); drain output() once more (it may hold an alert), then close
};

enum class Progress {
    done,         // the call did all it was asked
    want_input,   // feed more ciphertext, then call again
    want_output,  // drain output(), then call again
    closed,       // the peer sent close_notify (read) or the session is closed
    failed,       // the session failed; see failure_reason()
};

struct IoResult {
    std::size_t bytes = 0;  // plaintext bytes read or consumed
    Progress progress = Progress::done;
};

class Session {
  public:
    // A server session, for an accepted connection (after STARTTLS, or at once on port 465).
    static Result<Session> server(const Context& context);
    // A client session to `host_name` (the MX host name): sent as SNI and, unless the context's
    // policy is Verify::none, checked against the certificate. An IP literal is checked as an
    // address and not sent as SNI. Verify::required with an empty host name is an error.
    static Result<Session> client(const Context& context, std::string_view host_name);

    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

    // Copies as much received ciphertext as the input buffer has room for; returns how much.
    // The caller keeps the rest and feeds it after the next read or handshake call.
    [[nodiscard]] std::size_t feed(std::span<const std::byte> ciphertext);
    std::size_t input_room_bytes() const;

    // Ciphertext to send. The span stays valid, and the bytes in it unchanged, until the next
    // consume_output() or the session's end: calls in between only append. Keep at most one send
    // of it in flight; consume_output(n) once n bytes went out.
    std::span<const std::byte> output() const;
    void consume_output(std::size_t bytes);

    // Drives the handshake. done once established; after that it keeps returning done.
    [[nodiscard]] Progress handshake();
    // Decrypts into `plaintext`. {n, done} with n > 0; {0, want_input} when no full record is
    // buffered; {0, closed} after the peer's close_notify; {0, failed}. Only after the handshake.
    [[nodiscard]] IoResult read(std::span<std::byte> plaintext);
    // Encrypts as much of `plaintext` as the output buffer has room for. {n, done} when all of it
    // was taken, {n, want_output} when the caller must drain and then write the rest.
    [[nodiscard]] IoResult write(std::span<const std::byte> plaintext);
    // Queues close_notify and marks the session closed. The peer's close_notify is not awaited
    // (RFC 8446 section 6.1 allows closing once ours is sent).
    [[nodiscard]] Progress shutdown();

    State state() const;
    Side side() const;
    // One line, printable ASCII, no internals beyond the TLS term, e.g. "certificate verify
    // failed: unable to get local issuer certificate (depth 0, CN=mx.example.com)" or "TLS
    // handshake failed: peer sent alert handshake failure". Empty unless state() is failed.
    std::string_view failure_reason() const;

    // After the handshake. "TLSv1.3", "TLSv1.2".
    std::string_view protocol_version() const;
    // IANA cipher suite name, e.g. "TLS_AES_256_GCM_SHA384",
    // "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".
    std::string_view cipher_name() const;
    // Client side: the server's chain and host name verified (never under Verify::none).
    bool peer_verified() const;
    // Client side: why verification did not succeed, in the words of failure_reason(), e.g.
    // "self-signed certificate (depth 0, CN=mx.example.com)"; empty if verified or not verifying.
    std::string_view verify_failure() const;
    // Client side: the subject common name of the server certificate (printable ASCII, at most
    // 64 characters), empty if none. Server side: empty (client certificates are not requested).
    std::string_view peer_common_name() const;
    // Client side under Verify::dane, after the handshake: the certificates the server sent,
    // DER, leaf first (wolfSSL takes at most MAX_CHAIN_DEPTH + 1); empty otherwise. Kept for
    // the session's life: a few KiB, on DANE sessions only.
    const std::vector<std::vector<std::uint8_t>>& peer_chain() const;

    // Bytes held by this session's own buffers right now (not counting wolfSSL's state).
    std::size_t buffered_bytes() const;

    struct Impl;

  private:
    explicit Session(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace relay::tls
