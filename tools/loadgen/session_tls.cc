// session_tls.cc -- loadgen's STARTTLS (RFC 3207): the TLS layer between a Session's plaintext
// commands and replies and the ciphertext the worker sends and receives.
//
// After the server's 220 to STARTTLS, the Session makes a client relay::tls::Session and drives
// its handshake from here; once it is established, finish_output encrypts each command group into
// the TLS output buffer (the worker sends that instead of the plaintext iovecs) and pump_tls
// decrypts received records into the reply buffer that process_replies reads. Nothing here
// touches the socket: the worker's loop stays the same with or without TLS.
//
// Untrusted bytes: the server's ciphertext (the TLS session bounds and checks it). Thread: the
// owning worker. Must never: move TLS output the worker may be sending (only consume_output
// does), or run a handshake step while output is still pending.
#include <cstring>

#include "relay/base/assert.h"
#include "session.h"

namespace loadgen {
namespace {

// Feed/handshake/read steps per batch of received ciphertext: each step consumes a record or
// fills the reply buffer; the bound keeps a hostile peer from holding the worker.
constexpr std::size_t tls_rounds_max = 64;

std::int64_t milliseconds_ns(std::uint32_t ms) {
    return static_cast<std::int64_t>(ms) * 1000000;
}

}  // namespace

// The 220 to STARTTLS: anything the server sent after it was sent before TLS and must not be
// read as if it came through it (RFC 3207 section 5: command injection), so it is dropped.
void Session::start_tls(std::int64_t now_ns) {
    RELAY_ASSERT(shared_.tls_context != nullptr && !tls_);
    input_begin_ = 0;
    input_end_ = 0;
    cipher_begin_ = 0;
    cipher_end_ = 0;
    relay::Result<relay::tls::Session> made =
        relay::tls::Session::client(*shared_.tls_context, shared_.tls_host_name);
    if (!made) {
        tls_failed(now_ns);
        return;
    }
    tls_.emplace(std::move(*made));
    (void)step_handshake(now_ns);
}

// One handshake step. Returns true when the caller may go on feeding input.
bool Session::step_handshake(std::int64_t now_ns) {
    relay::tls::Progress progress = tls_->handshake();
    if (progress == relay::tls::Progress::failed || progress == relay::tls::Progress::closed) {
        tls_failed(now_ns);
        return false;
    }
    if (progress == relay::tls::Progress::done) {
        // EHLO again (RFC 3207 section 4.2); the client's last flight goes out with it.
        send_line("EHLO " + options_.helo + "\r\n", Expect::ehlo);
        finish_output(now_ns);
        return false;
    }
    if (!tls_->output().empty()) {
        start_tls_output(now_ns);
        return false;
    }
    return true;
}

void Session::pump_tls(std::int64_t now_ns) {
    RELAY_ASSERT(tls_ && !output_pending_);
    compact_input();
    for (std::size_t round = 0; round < tls_rounds_max && close_ == CloseKind::none; ++round) {
        std::span<const char> waiting(cipher_input_.data() + cipher_begin_,
                                      cipher_end_ - cipher_begin_);
        cipher_begin_ += tls_->feed(std::as_bytes(waiting));
        const bool more_input = cipher_begin_ < cipher_end_;
        if (tls_->state() == relay::tls::State::handshaking) {
            if (end_of_stream_ || !step_handshake(now_ns) || !more_input) {
                return;
            }
            continue;
        }
        if (input_end_ == input_.size()) {
            break;  // process_replies makes room; the rest stays in the TLS session
        }
        std::span<char> space(input_.data() + input_end_, input_.size() - input_end_);
        relay::tls::IoResult result = tls_->read(std::as_writable_bytes(space));
        input_end_ += result.bytes;
        if (result.progress == relay::tls::Progress::failed) {
            tls_failed(now_ns);
            return;
        }
        if (result.bytes == 0 &&
            (result.progress != relay::tls::Progress::want_input || !more_input)) {
            break;  // all read, or the peer's close_notify (its TCP end follows)
        }
    }
    process_replies(now_ns);
}

// Encrypts the pending plaintext iovecs into the TLS output buffer, as far as it has room.
bool Session::encrypt_output() {
    while (iov_sent_ < iov_count_) {
        const iovec& part = iov_[iov_sent_];
        std::span<const char> plaintext(static_cast<const char*>(part.iov_base), part.iov_len);
        relay::tls::IoResult result = tls_->write(std::as_bytes(plaintext));
        if (result.progress == relay::tls::Progress::failed ||
            result.progress == relay::tls::Progress::closed) {
            return false;
        }
        advance_output(result.bytes);
        if (result.progress == relay::tls::Progress::want_output) {
            RELAY_ASSERT(!tls_->output().empty());
            break;
        }
    }
    return true;
}

void Session::on_tls_sent(std::size_t bytes, std::int64_t now_ns) {
    tls_->consume_output(bytes);
    if (tls_->state() == relay::tls::State::established && !encrypt_output()) {
        tls_failed(now_ns);
        return;
    }
    if (!tls_->output().empty()) {
        return;  // the worker sends the rest
    }
    RELAY_ASSERT(iov_sent_ >= iov_count_);
    output_pending_ = false;
    pump_tls(now_ns);
}

// Handshake bytes to send, with no plaintext behind them.
void Session::start_tls_output(std::int64_t now_ns) {
    commands_.clear();
    iov_count_ = 0;
    iov_sent_ = 0;
    output_pending_ = true;
    deadline_ns_ = now_ns + milliseconds_ns(options_.timeout_ms);
}

void Session::tls_failed(std::int64_t now_ns) {
    ++context_.stats.tls_failures;
    if (!ready_) {
        note_refusal(now_ns);
    }
    if (in_transaction_) {
        ++context_.stats.attempted;
        ++context_.stats.lost;
        in_transaction_ = false;
    }
    output_pending_ = false;
    close_with(CloseKind::error);
}

}  // namespace loadgen
