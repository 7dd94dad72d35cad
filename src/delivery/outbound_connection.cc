// outbound_connection.cc -- bytes between socket, TLS and the SMTP client state machine, and
// the message body streamed from its source in bounded pieces.
#include "relay/delivery/outbound_connection.h"

#include <algorithm>
#include <cstring>

#include "relay/base/incident.h"
#include "relay/base/log.h"
#include "relay/base/result.h"

namespace relay::delivery {
namespace {

std::uint32_t timeout_for(smtp::Wait wait, const config::Delivery& timeouts) {
    switch (wait) {
        case smtp::Wait::greeting:
            return timeouts.greeting_timeout_s;
        case smtp::Wait::command:
            return timeouts.command_timeout_s;
        case smtp::Wait::data_start:
            return timeouts.data_timeout_s;
        case smtp::Wait::data_block:
            return timeouts.block_timeout_s;
        case smtp::Wait::data_end:
            return timeouts.final_timeout_s;
        case smtp::Wait::nothing:
            return 0;
    }
    return 0;
}

const char* wait_name(smtp::Wait wait) {
    switch (wait) {
        case smtp::Wait::greeting:
            return "the greeting";
        case smtp::Wait::command:
            return "a reply";
        case smtp::Wait::data_start:
            return "the reply to DATA";
        case smtp::Wait::data_block:
            return "the data to be sent";
        case smtp::Wait::data_end:
            return "the reply to the end of data";
        case smtp::Wait::nothing:
            return "nothing";
    }
    return "?";
}

std::string target_name(const DeliveryTarget& target) {
    std::string ip = target.address.to_string();
    if (!target.address.is_ipv4()) {
        ip = "[" + ip + "]";
    }
    return target.host + "[" + target.address.to_string() + "]:" + std::to_string(target.port);
}

// Without a TLS context there is nothing to run STARTTLS with: the session must not ask for it.
// (Decided before the session is built: it keeps its own copy of the settings.)
smtp::ClientSettings client_settings_for(const OutboundSettings& settings) {
    smtp::ClientSettings client = settings.client;
    if (settings.tls == nullptr) {
        client.try_starttls = false;
    }
    return client;
}

}  // namespace

OutboundConnection::OutboundConnection(engine::Reactor& reactor, OutboundOwner& owner,
                                       DeliveryTarget target, OutboundSettings settings)
    : reactor_(reactor),
      owner_(owner),
      target_(std::move(target)),
      settings_(std::move(settings)),
      client_settings_(client_settings_for(settings_)),
      connection_(reactor, *this),
      session_(client_settings_),
      name_(target_name(target_)) {}

OutboundConnection::~OutboundConnection() {
    reactor_.timers().cancel(timer_);
}

void OutboundConnection::connect() {
    SocketAddress address = target_.address.to_socket_address(target_.port);
    engine::SocketAddress peer =
        engine::SocketAddress::from_sockaddr(address.get(), address.length);
    reactor_.timers().cancel(timer_);
    timer_ = reactor_.timers().add(
        reactor_.now() + std::chrono::seconds(settings_.timeouts->connect_timeout_s), [this] {
            timer_ = 0;
            fail("connect to " + name_ + ": timed out");
        });
    connection_.connect(peer);
}

void OutboundConnection::on_connected(int error) {
    if (error != 0) {
        fail("connect to " + name_ + ": " + std::strerror(error));
        return;
    }
    connection_.start_receiving();
    arm_timeout();
}

void OutboundConnection::on_receive(std::span<char> bytes) {
    reached_server_ = true;
    if (failed_) {
        return;
    }
    if (!tls_) {
        session_.receive(std::string_view(bytes.data(), bytes.size()));
        after_session();
        return;
    }
    tls_->receive(bytes);
    if (!failed_) {
        connection_.flush();  // the handshake's flights, alerts, KeyUpdate replies
    }
}

void OutboundConnection::start_tls() {
    if (settings_.tls == nullptr) {
        // Only under `required` with no usable trust anchors: the session insists on TLS.
        tls_failed_ = true;
        session_.tls_failed("TLS is required but no client context could be set up");
        fail("TLS with " + name_ + ": no client context (check delivery.ca_file)");
        return;
    }
    auto session = tls::Session::client(*settings_.tls, target_.tls_server_name());
    if (!session) {
        tls_failed_ = true;
        fail("TLS with " + name_ + ": " + session.error().message);
        return;
    }
    tls_.emplace(std::move(session.value()), connection_.output(), *this);
    tls_->start();
    connection_.flush();
}

std::string_view OutboundConnection::tls_version() const {
    return tls_ && tls_->established() ? tls_->session().protocol_version() : std::string_view();
}

void OutboundConnection::on_tls_established() {
    const tls::Session& session = tls_->session();
    log::debug("TLS with {}: {} {}", name_, session.protocol_version(), session.cipher_name());
    if (!check_dane()) {
        return;
    }
    session_.tls_established();
    after_session();
}

void OutboundConnection::on_tls_plaintext(std::span<char> plaintext) {
    if (failed_) {
        return;
    }
    session_.receive(std::string_view(plaintext.data(), plaintext.size()));
    after_session();
}

void OutboundConnection::on_tls_ended(tls::State state, std::string_view reason) {
    if (failed_) {
        return;
    }
    if (!tls_->handshake_done()) {
        tls_failed_ = true;
        std::string message = "TLS handshake with " + name_ + " failed: " + std::string(reason);
        session_.tls_failed(message);
        fail(message);
        return;
    }
    if (state == tls::State::closed) {
        session_.connection_lost("TLS closed by " + name_);
    } else {
        session_.connection_lost("TLS with " + name_ + " failed: " + std::string(reason));
    }
    after_session();
}

// Under DANE, the server's chain against the host's TLSA records; a mismatch ends the
// connection before the EHLO that would follow the handshake. False when it failed.
bool OutboundConnection::check_dane() {
    if (!settings_.dane) {
        return true;
    }
    const tls::Session& session = tls_->session();
    if (settings_.dane->records.empty()) {
        log::info("{}: tls=dane encrypted, not authenticated (no usable TLSA record) {} {}", name_,
                  session.protocol_version(), session.cipher_name());
        return true;
    }
    const std::vector<std::string> names = {target_.host};
    tls::DaneVerdict verdict =
        tls::dane_verify(session.peer_chain(), settings_.dane->records, names);
    if (!verdict.matched) {
        dane_mismatch_ = true;
        fail("DANE: no TLSA record matches the certificate of " + name_ + " (" + verdict.detail +
             ")");
        return false;
    }
    dane_matched_ = true;
    log::info("{}: tls=dane verified ({}) {} {}", name_, verdict.detail, session.protocol_version(),
              session.cipher_name());
    return true;
}

// The session's output (commands, the prefix, the end of the data) into the socket's queue.
void OutboundConnection::flush_plaintext() {
    std::string& output = session_.output();
    if (output.empty()) {
        return;
    }
    if (tls_ && tls_->handshaking()) {
        return;  // nothing may go out before the handshake ends
    }
    queue_plaintext(output);
    output.clear();
}

// Appends to the socket's queue, through TLS when it is on; the caller flushes.
void OutboundConnection::queue_plaintext(std::string_view plaintext) {
    if (!tls_) {
        connection_.output().append(plaintext);
        return;
    }
    if (!tls_->write(plaintext) && tls_->session().state() == tls::State::failed) {
        fail("TLS with " + name_ + " failed: " + std::string(tls_->session().failure_reason()));
    }
    // Closed by the peer's close_notify: on_tls_ended has told the session already.
}

// While the session wants the body and the socket keeps up: the next piece from the source,
// through the session (which stuffs it for DATA), into the socket's queue. A piece arrives
// later (on_body_piece); on_sent() comes back here once the queue has drained. A source that
// cannot be read fails the transaction (RFC 5321 gives no way to abort DATA or BDAT: the
// connection is dropped mid-data, and the server discards what it got).
void OutboundConnection::stream_body() {
    // Each turn queues a piece, or stops: the queue's bound and the body's end bound the loop.
    while (!failed_ && !body_reading_ && session_.body_due()) {
        if (body_left_bytes_ == 0) {
            // At once, not once the queue has drained: the reply to the data may follow the
            // last octets closely, and the session must be waiting for it by then.
            session_.body_sent();
            return;
        }
        if (connection_.unsent_bytes() >= 2 * settings_.timeouts->body_piece_bytes) {
            return;
        }
        if (std::optional<spool::BodyPiece> piece = body_->read_now()) {
            queue_piece(*piece);  // at hand: it joins the commands' send
            continue;
        }
        body_reading_ = true;
        body_->read([this](Result<spool::BodyPiece> piece) { on_body_piece(std::move(piece)); });
        return;
    }
}

void OutboundConnection::queue_piece(const spool::BodyPiece& piece) {
    RELAY_ASSERT(!piece.bytes.empty() && piece.bytes.size() <= body_left_bytes_);
    body_left_bytes_ -= piece.bytes.size();
    std::string_view framed = session_.body_piece(piece.bytes);
    if (!tls_ && framed.data() == piece.bytes.data()) {
        connection_.queue_shared(piece.owner, framed);  // sent from the buffer itself
    } else {
        queue_plaintext(framed);
    }
}

void OutboundConnection::on_body_piece(Result<spool::BodyPiece> piece) {
    body_reading_ = false;
    if (failed_ || !session_.body_due()) {
        return;  // the transaction ended meanwhile (the connection broke)
    }
    if (!piece) {
        // The DSN goes to the sender: it gets an id to quote, the log gets the detail.
        std::string incident = new_incident_id();
        log::error("incident {}: {}", incident, piece.error().message);
        session_.body_failed(smtp::Reply{
            554, "5.3.0", "the queued copy of the message is damaged (incident " + incident + ")"});
        after_session();
        return;
    }
    queue_piece(piece.value());
    after_session();
}

void OutboundConnection::after_session() {
    if (failed_) {
        return;
    }
    flush_plaintext();
    stream_body();
    flush_plaintext();  // the end of the data, once the body is all queued
    if (failed_) {
        return;
    }
    connection_.flush();
    using State = smtp::ClientSession::State;
    State state = session_.state();
    if (in_transaction_ && state != State::transaction) {
        if (auto result = session_.take_result()) {
            in_transaction_ = false;
            body_.reset();  // drops a read still in flight
            body_reading_ = false;
            owner_.on_result(*this, std::move(*result));
            if (failed_) {
                return;
            }
            state = session_.state();
        }
    }
    switch (state) {
        case State::tls_needed:
            if (!tls_) {
                start_tls();
            }
            break;
        case State::ready:
            if (!ready_announced_) {
                ready_announced_ = true;
                owner_.on_ready(*this);
            }
            break;
        case State::closed:
            fail(quitting_ ? std::string() : "connection closed by " + name_);
            return;
        case State::failed: {
            std::string reason = session_.failure().empty()
                                     ? "session with " + name_ + " failed"
                                     : session_.failure() + " (" + name_ + ")";
            // The session's words for a missing or refused STARTTLS under require_tls
            // (smtp/client_session.cc): the TLS policy counts it (RFC 8460 §4.3).
            starttls_unavailable_ =
                !tls_ && client_settings_.require_tls && session_.failure().starts_with("STARTTLS");
            if (settings_.dane && !session_.tls_active()) {
                reason = "DANE: TLS is mandatory for " + target_.host + ", but " + reason;
            }
            fail(reason);
            return;
        }
        default:
            break;
    }
    arm_timeout();
}

void OutboundConnection::send(const smtp::OutboundMessage& message,
                              std::unique_ptr<BodySource> body) {
    RELAY_ASSERT(ready() && !in_transaction_);
    RELAY_ASSERT(body != nullptr);
    in_transaction_ = true;
    ++transactions_;
    body_ = std::move(body);
    body_left_bytes_ = message.body_bytes;
    session_.send(message);
    after_session();
}

void OutboundConnection::on_sent() {
    if (!failed_ && session_.body_due()) {
        after_session();  // room for the next pieces of the body; re-arms the block timeout
    }
}

void OutboundConnection::quit() {
    if (failed_) {
        return;
    }
    quitting_ = true;
    session_.quit();
    after_session();
}

void OutboundConnection::abort() {
    if (!failed_) {
        failed_ = true;
        reactor_.timers().cancel(timer_);
        timer_ = 0;
        owner_.on_failed(*this, "aborted");
    }
    connection_.abort();
}

void OutboundConnection::arm_timeout() {
    reactor_.timers().cancel(timer_);
    timer_ = 0;
    std::uint32_t seconds = tls_ && tls_->handshaking()
                                ? settings_.timeouts->command_timeout_s
                                : timeout_for(session_.waiting_for(), *settings_.timeouts);
    if (seconds == 0) {
        return;
    }
    smtp::Wait wait = session_.waiting_for();
    timer_ = reactor_.timers().add(reactor_.now() + std::chrono::seconds(seconds), [this, wait] {
        timer_ = 0;
        session_.connection_lost(std::string("timed out waiting for ") + wait_name(wait) +
                                 " from " + name_);
        after_session();
        fail(std::string("timed out waiting for ") + wait_name(wait) + " from " + name_);
    });
}

void OutboundConnection::on_disconnect(int error) {
    if (tls_ && tls_->handshaking()) {
        tls_failed_ = true;  // a server that hangs up mid-handshake cannot do TLS with us
    }
    std::string reason = error == 0
                             ? "connection closed by " + name_
                             : "connection with " + name_ + " broke: " + std::strerror(error);
    session_.connection_lost(reason);
    after_session();
    fail(quitting_ ? std::string() : reason);
}

void OutboundConnection::fail(const std::string& reason) {
    if (failed_) {
        return;
    }
    failed_ = true;
    reactor_.timers().cancel(timer_);
    timer_ = 0;
    body_.reset();
    body_reading_ = false;
    owner_.on_failed(*this, reason);
    connection_.close();
}

void OutboundConnection::on_closed() {
    owner_.on_closed(*this);
}

}  // namespace relay::delivery
