// outbound_connection.h -- one SMTP connection to a destination host, on the engine.
//
// Drives a ClientSession over a TcpConnection, with STARTTLS through a tls::Stream (the adapter
// ingress uses too): ciphertext moves between the socket and the TLS session, plaintext between
// the TLS session and the SMTP state machine. It tells its owner when it is ready for a
// transaction, hands back each transaction's result, and reports why it can no longer be used.
// Timeouts follow what the session waits for (RFC 5321 §4.5.3.2).
//
// The message body is streamed from a BodySource (the spool's body reader) in pieces of at most
// `delivery.body_piece_bytes`, and no piece is read while two pieces' worth wait to be sent: a
// connection holds a few pieces of a body, never the whole of it. In plaintext, a piece that
// needs no dot-stuffing (BDAT, or DATA without a line starting with '.') is sent from the very
// buffer it was read into (or the spool's cached copy): no copy in user space. Under TLS it is
// encrypted from that buffer.
//
// Thread: one worker. Never blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "relay/base/result.h"
#include "relay/config/config.h"
#include "relay/delivery/mx_plan.h"
#include "relay/engine/reactor.h"
#include "relay/engine/tcp_connection.h"
#include "relay/smtp/client_session.h"
#include "relay/spool/body_reader.h"
#include "relay/tls/dane.h"
#include "relay/tls/stream.h"

namespace relay::delivery {

class OutboundConnection;

// The body of the message in a transaction, read piece by piece while it is sent.
class BodySource {
  public:
    virtual ~BodySource() = default;
    // Reads the next piece (at least one octet while any are left). `done` runs later on this
    // worker, never inside the call, with a piece whose bytes stay valid while its owner is
    // held, or an error when the stored body cannot be read (the transaction then fails and the
    // connection is dropped mid-data). Destroying the source drops a read in flight.
    virtual void read(std::function<void(Result<spool::BodyPiece>)> done) = 0;
    // The next piece at once when no read is needed (a cached message), else nullopt: what
    // is at hand goes out in the same send as the commands before it.
    virtual std::optional<spool::BodyPiece> read_now() { return std::nullopt; }
};

// The body as the spool stores it, through its verified body reader.
class SpoolBodySource final : public BodySource {
  public:
    explicit SpoolBodySource(std::unique_ptr<spool::WorkerSpool::BodyReader> reader)
        : reader_(std::move(reader)) {}
    void read(std::function<void(Result<spool::BodyPiece>)> done) override {
        reader_->read(std::move(done));
    }
    std::optional<spool::BodyPiece> read_now() override { return reader_->read_now(); }

  private:
    std::unique_ptr<spool::WorkerSpool::BodyReader> reader_;
};

class OutboundOwner {
  public:
    // The session is ready for a transaction (after the greeting, or after a result).
    virtual void on_ready(OutboundConnection& connection) = 0;
    virtual void on_result(OutboundConnection& connection, smtp::TransactionResult result) = 0;
    // The connection failed or ended; `reason` is empty after an orderly QUIT. The owner
    // must not use it any more; `on_closed` follows.
    virtual void on_failed(OutboundConnection& connection, const std::string& reason) = 0;
    virtual void on_closed(OutboundConnection& connection) = 0;

  protected:
    ~OutboundOwner() = default;
};

// DANE for one host (RFC 7672 §2.2, §3): TLS is mandatory and, when there are usable TLSA
// records, the server's chain must match one of them (checked once the handshake is done,
// before any command goes through TLS); no records: TLS without authentication.
struct DaneRequirement {
    std::vector<tls::TlsaRecord> records;  // usable ones only
};

struct OutboundSettings {
    smtp::ClientSettings client;
    const tls::Context* tls = nullptr;  // nullptr: never STARTTLS
    const config::Delivery* timeouts = nullptr;
    std::optional<DaneRequirement> dane;
};

class OutboundConnection final : public engine::ConnectionHandler, public tls::StreamHandler {
  public:
    OutboundConnection(engine::Reactor& reactor, OutboundOwner& owner, DeliveryTarget target,
                       OutboundSettings settings);
    ~OutboundConnection();

    void connect();
    // Starts a transaction. `body` yields the message.body_bytes octets of the body; the
    // connection keeps it until the transaction's result.
    void send(const smtp::OutboundMessage& message, std::unique_ptr<BodySource> body);
    void quit();
    void abort();

    const DeliveryTarget& target() const { return target_; }
    // "mx.example.net[192.0.2.1]:25"
    const std::string& name() const { return name_; }
    bool ready() const { return session_.state() == smtp::ClientSession::State::ready; }
    bool reached_server() const { return reached_server_; }
    bool tls_failed() const { return tls_failed_; }
    bool tls_active() const { return session_.tls_active(); }
    // "TLSv1.3", "TLSv1.2"; empty without an established TLS session.
    std::string_view tls_version() const;
    // The server's chain and name verified (under a verifying TLS context), or under DANE the
    // chain matched a usable TLSA record.
    bool tls_verified() const {
        if (settings_.dane) {
            return dane_matched_;
        }
        return tls_ && tls_->handshake_done() && tls_->session().peer_verified();
    }
    // Under DANE, no TLSA record matched the server's chain.
    bool dane_mismatch() const { return dane_mismatch_; }
    // Why verification failed ("host name mismatch (depth 0, CN=...)"); empty if it did not.
    std::string tls_verify_failure() const {
        return tls_ ? std::string(tls_->session().verify_failure()) : std::string();
    }
    // TLS was required and the server did not offer STARTTLS, or refused it.
    bool starttls_unavailable() const { return starttls_unavailable_; }
    std::uint32_t transactions() const { return transactions_; }

    // engine::ConnectionHandler
    void on_connected(int error) override;
    void on_receive(std::span<char> bytes) override;
    void on_disconnect(int error) override;
    void on_sent() override;
    void on_closed() override;

    // tls::StreamHandler
    void on_tls_established() override;
    void on_tls_plaintext(std::span<char> plaintext) override;
    void on_tls_ended(tls::State state, std::string_view reason) override;

  private:
    void after_session();
    void flush_plaintext();
    void queue_plaintext(std::string_view plaintext);
    void stream_body();
    void on_body_piece(Result<spool::BodyPiece> piece);
    void queue_piece(const spool::BodyPiece& piece);
    void start_tls();
    bool check_dane();
    void arm_timeout();
    void fail(const std::string& reason);

    engine::Reactor& reactor_;
    OutboundOwner& owner_;
    DeliveryTarget target_;
    OutboundSettings settings_;
    smtp::ClientSettings client_settings_;
    engine::TcpConnection connection_;
    smtp::ClientSession session_;
    std::optional<tls::Stream> tls_;
    std::string name_;
    std::unique_ptr<BodySource> body_;   // the transaction's body, while it runs
    std::uint64_t body_left_bytes_ = 0;  // not yet read from body_
    bool body_reading_ = false;          // a read of body_ is in flight
    engine::TimerQueue::TimerId timer_ = 0;
    bool reached_server_ = false;
    bool tls_failed_ = false;
    bool starttls_unavailable_ = false;
    bool dane_matched_ = false;
    bool dane_mismatch_ = false;
    bool failed_ = false;
    bool in_transaction_ = false;
    bool ready_announced_ = false;
    bool quitting_ = false;
    std::uint32_t transactions_ = 0;
};

}  // namespace relay::delivery
