// stream.cc -- the record pump between received ciphertext, a tls::Session and the send queue.
//
// Each piece of received ciphertext is fed as far as the session's input buffer takes it, then
// the session runs: the handshake while it lasts, else reads of whole records whose plaintext
// goes to the handler. Every session call may produce ciphertext (a flight, a ticket, an alert,
// a KeyUpdate reply), so the output is moved to the wire after each one: the session's output
// buffer never stays full, which is what lets write() take all of its input in one call.
//
// Untrusted bytes: all ciphertext received. Threads: the owner's worker. RFCs: see session.h.
// Never: read plaintext before the handshake ends, or report the end twice.
#include "relay/tls/stream.h"

#include "relay/base/assert.h"

namespace relay::tls {

Stream::Stream(Session session, std::string& wire, StreamHandler& handler)
    : session_(std::move(session)), wire_(wire), handler_(handler) {}

void Stream::start() {
    pump();
}

void Stream::receive(std::span<const char> ciphertext) {
    auto input = std::as_bytes(ciphertext);
    // Each turn either feeds some bytes or ends the stream: bounded by the input's size.
    while (!input.empty() && !ended_) {
        if (session_.state() == State::closed) {
            return;  // closed by us: what the peer still sends has no reader
        }
        std::size_t fed = session_.feed(input);
        input = input.subspan(fed);
        pump();
        if (fed == 0 && !ended_) {
            // A full input buffer that a pump could not drain: the records in it are larger
            // than the buffer, which no well-formed peer sends.
            end(State::failed, "TLS input buffer limit exceeded");
            return;
        }
    }
}

bool Stream::write(std::string_view plaintext) {
    if (ended_ || session_.state() != State::established) {
        return false;
    }
    auto bytes = std::as_bytes(std::span<const char>(plaintext.data(), plaintext.size()));
    // Each turn encrypts at least one record into the emptied output buffer, or returns.
    while (!bytes.empty()) {
        IoResult written = session_.write(bytes);
        bytes = bytes.subspan(written.bytes);
        move_output();
        if (written.progress == Progress::failed || written.progress == Progress::closed) {
            return false;
        }
        if (written.bytes == 0 && written.progress != Progress::want_output) {
            return false;
        }
    }
    return true;
}

void Stream::close() {
    if (ended_) {
        return;
    }
    (void)session_.shutdown();  // a failure here changes nothing: the connection closes anyway
    move_output();
}

void Stream::pump() {
    if (session_.state() == State::handshaking) {
        (void)session_.handshake();  // the state says all
        move_output();
        if (session_.state() == State::failed) {
            end(State::failed, session_.failure_reason());
            return;
        }
        if (session_.state() != State::established) {
            return;
        }
        handshake_done_ = true;
        handler_.on_tls_established();
    }
    read_records();
}

void Stream::read_records() {
    char plaintext[plaintext_bytes_max];
    // Each turn hands out at least one byte of the buffered records, or leaves.
    while (!ended_ && session_.state() == State::established) {
        IoResult read = session_.read(
            std::span<std::byte>(reinterpret_cast<std::byte*>(plaintext), sizeof plaintext));
        move_output();
        if (read.bytes > 0) {
            handler_.on_tls_plaintext(std::span<char>(plaintext, read.bytes));
            continue;
        }
        if (read.progress == Progress::closed) {
            end(State::closed, {});
        } else if (read.progress == Progress::failed) {
            end(State::failed, session_.failure_reason());
        } else if (read.progress == Progress::want_output) {
            continue;  // the output was just emptied: the next read has its room
        }
        return;
    }
}

void Stream::move_output() {
    std::span<const std::byte> output = session_.output();
    if (output.empty()) {
        return;
    }
    wire_.append(reinterpret_cast<const char*>(output.data()), output.size());
    session_.consume_output(output.size());
}

void Stream::end(State state, std::string_view reason) {
    RELAY_ASSERT(!ended_);
    ended_ = true;
    handler_.on_tls_ended(state, reason);
}

}  // namespace relay::tls
