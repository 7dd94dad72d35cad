// stream.h -- a TLS session between a connection's received bytes and its send queue, for either
// side: ciphertext in, plaintext to the handler, plaintext out, ciphertext appended to the
// connection's output.
//
// One adapter serves outbound delivery (client side, after STARTTLS) and ingress (server side,
// after STARTTLS or at once on an implicit-TLS listener), so that the record pump, the
// handshake steps and the end of the session are written once. It knows neither sockets nor
// SMTP: the owner hands it the bytes the engine received, and sends whatever it appended to
// `wire` (the engine connection's output queue) once the call returns.
//
// Untrusted bytes: every ciphertext byte received. Garbage, a failed handshake or a peer's
// fatal alert end this stream only (on_tls_ended with the reason; an alert for the peer may
// be left in `wire`).
// Threads: the one worker that owns the connection.
// Bounds: the session's own buffers (BufferLimits); the plaintext of one read is at most
// plaintext_bytes_max, handed to the handler before the next read.
// Reentrancy: the handler may call write() and close() from its callbacks, never destroy the
// stream there (owners destroy connections on a later turn).
// Never: hand plaintext to the handler before the handshake has finished, or send plaintext
// before it has (write() refuses).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "relay/tls/session.h"

namespace relay::tls {

class StreamHandler {
  public:
    // The handshake finished; write() works from now on.
    virtual void on_tls_established() = 0;
    // Decrypted bytes, valid only during the call; the handler may modify them in place.
    virtual void on_tls_plaintext(std::span<char> plaintext) = 0;
    // The peer sent close_notify (State::closed, empty reason) or the session failed
    // (State::failed, a one-line reason). Called once; nothing more is read.
    virtual void on_tls_ended(State state, std::string_view reason) = 0;

  protected:
    ~StreamHandler() = default;
};

inline constexpr std::size_t plaintext_bytes_max = 16384;  // one TLS record's payload

class Stream {
  public:
    // `wire` is where ciphertext for the peer is appended; it must outlive the stream.
    Stream(Session session, std::string& wire, StreamHandler& handler);
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Takes the first handshake step: a client's ClientHello goes into `wire`; a server waits
    // for the peer's.
    void start();
    // Received ciphertext: fed to the session in pieces its input buffer takes, each followed
    // by the handshake or by reading and handing out the plaintext. Bytes arriving after the
    // stream ended are dropped.
    void receive(std::span<const char> ciphertext);
    // Encrypts all of `plaintext` into `wire`. False when the stream is not established (still
    // handshaking, closed, or failed): nothing was sent then.
    [[nodiscard]] bool write(std::string_view plaintext);
    // Queues close_notify (RFC 8446 section 6.1) when the session is established; afterwards
    // nothing more is read or written.
    void close();

    bool handshaking() const { return session_.state() == State::handshaking; }
    bool established() const { return session_.state() == State::established; }
    bool ended() const { return ended_; }
    // The handshake finished at some point (the stream may have ended since).
    bool handshake_done() const { return handshake_done_; }
    const Session& session() const { return session_; }

  private:
    void pump();
    void read_records();
    void move_output();
    void end(State state, std::string_view reason);

    Session session_;
    std::string& wire_;
    StreamHandler& handler_;
    bool ended_ = false;
    bool handshake_done_ = false;
};

}  // namespace relay::tls
