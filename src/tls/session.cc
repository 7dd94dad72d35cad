// session.cc -- a wolfSSL session whose I/O callbacks read and write the session's own buffers.
//
// wolfSSL pulls ciphertext through receive_callback (from the input buffer feed() filled) and
// pushes ciphertext through send_callback (into the output buffer the engine drains). Neither
// callback can block: an empty input is WANT_READ, a full output during the handshake is
// WANT_WRITE. After the handshake the output never runs full under wolfSSL's feet: write() only
// encrypts a record when the record fits, and keeps control_reserve_bytes free for the small
// records wolfSSL sends on its own (alerts, KeyUpdate replies). That keeps wolfSSL's "call again
// with the same buffer" rule for interrupted writes out of the picture: write() takes exactly
// what it reports. Overrunning the reserve anyway (a peer flooding KeyUpdate requests while the
// caller never drains) fails the session rather than growing the buffer.
//
// Untrusted bytes: all ciphertext fed in, and the peer certificate's subject (printable() before
// use). Threads: the session's own. RFCs: see session.h.
// Never: block, call into a socket, let the buffers grow past their limits, or move output bytes
// outside consume_output().
#include "relay/tls/session.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "byte_buffer.h"
#include "internal.h"

namespace relay::tls {
namespace {

// Room kept free in the output buffer for the records wolfSSL sends unasked after the handshake:
// alerts (at most 31 bytes each) and TLS 1.3 KeyUpdate replies (at most 27 bytes).
constexpr std::size_t control_reserve_bytes = 1024;
static_assert(output_bytes_min >= record_bytes_max + control_reserve_bytes);
// write() does not cut a record smaller than this to fill the buffer's tail; it asks for a drain.
constexpr std::size_t write_chunk_bytes_min = 512;
// Slack for CBC padding when a smaller record is cut to fit (one AES block).
constexpr std::size_t padding_slack_bytes = 16;
constexpr std::size_t common_name_length_max = 64;
constexpr std::size_t host_name_length_max = 253;
constexpr std::size_t reason_length_max = 200;
constexpr int read_bytes_max = 1 << 30;

}  // namespace

struct Session::Impl {
    explicit Impl(const internal::ContextState& context)
        : side(context.side),
          verify(context.verify),
          input(context.limits.input_bytes_max),
          output(context.limits.output_bytes_max) {}
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        if (ssl != nullptr) {
            wolfSSL_free(ssl);
        }
    }

    Progress fail(std::string_view reason);
    Progress handle_error(int result);
    std::string describe_error(int error_code);
    void on_established();
    void record_verify_failure(const WOLFSSL_X509_STORE_CTX& store);

    WOLFSSL* ssl = nullptr;
    Side side;
    Verify verify;
    State state = State::handshaking;
    internal::ByteBuffer input;
    internal::ByteBuffer output;
    bool output_overflow = false;
    bool close_notify_sent = false;
    bool verify_failed = false;
    bool peer_verified = false;
    const char* protocol_version = "";
    const char* cipher_name = "";
    std::string failure_reason;
    std::string verify_failure;
    std::string peer_common_name;
    std::vector<std::vector<std::uint8_t>> peer_chain;  // Verify::dane only
};

namespace {

int receive_callback(WOLFSSL*, char* buffer, int size, void* context) {
    auto& session = *static_cast<Session::Impl*>(context);
    if (session.input.empty()) {
        return WOLFSSL_CBIO_ERR_WANT_READ;
    }
    std::span<const std::byte> queued = session.input.bytes();
    std::size_t count = std::min(queued.size(), static_cast<std::size_t>(size));
    std::memcpy(buffer, queued.data(), count);
    session.input.consume(count);
    return static_cast<int>(count);
}

int send_callback(WOLFSSL*, char* data, int size, void* context) {
    auto& session = *static_cast<Session::Impl*>(context);
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data),
                                     static_cast<std::size_t>(size));
    if (bytes.size() <= session.output.tail_room()) {
        return static_cast<int>(session.output.append(bytes));
    }
    if (session.state == State::handshaking) {
        // wolfSSL keeps the rest of the flight and offers it again on the next handshake call.
        std::size_t taken = session.output.append(bytes);
        return taken > 0 ? static_cast<int>(taken) : WOLFSSL_CBIO_ERR_WANT_WRITE;
    }
    session.output_overflow = true;
    return WOLFSSL_CBIO_ERR_GENERAL;
}

// Called by wolfSSL for every certificate of the peer's chain, root side first. wolfSSL 5.5
// computes `preverified` before its address check of the leaf, so a mismatch shows only in
// store->error: both are consulted.
int verify_callback(int preverified, WOLFSSL_X509_STORE_CTX* store) {
    auto* session = static_cast<Session::Impl*>(store->userCtx);
    bool verified = preverified != 0 && store->error == 0;
    if (session == nullptr) {
        return verified ? 1 : 0;
    }
    if (session->verify == Verify::dane) {
        // No CA is trusted, so the first call comes with the first certificate wolfSSL looks
        // at; store->certs holds the whole chain as sent, leaf first.
        if (session->peer_chain.empty() && store->certs != nullptr) {
            for (int index = 0; index < store->totalCerts; ++index) {
                const WOLFSSL_BUFFER_INFO& certificate = store->certs[index];
                session->peer_chain.emplace_back(certificate.buffer,
                                                 certificate.buffer + certificate.length);
            }
        }
        return 1;
    }
    if (!verified) {
        session->record_verify_failure(*store);
    }
    return session->verify == Verify::required && !verified ? 0 : 1;
}

bool is_ip_literal(const std::string& host) {
    unsigned char address[16];
    return inet_pton(AF_INET, host.c_str(), address) == 1 ||
           inet_pton(AF_INET6, host.c_str(), address) == 1;
}

bool is_host_name_character(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':';
}

Result<std::unique_ptr<Session::Impl>> make_impl(const internal::ContextState& context) {
    auto session = std::make_unique<Session::Impl>(context);
    session->ssl = wolfSSL_new(context.context);
    if (session->ssl == nullptr) {
        return Error{"out of memory creating a TLS session"};
    }
    WOLFSSL* ssl = session->ssl;
    wolfSSL_SSLSetIORecv(ssl, receive_callback);
    wolfSSL_SSLSetIOSend(ssl, send_callback);
    wolfSSL_SetIOReadCtx(ssl, session.get());
    wolfSSL_SetIOWriteCtx(ssl, session.get());
    return session;
}

Status set_peer_name(WOLFSSL* ssl, Verify verify, std::string host) {
    bool ip_literal = is_ip_literal(host);
    // RFC 6066 section 3: a host name without the trailing dot, and never an address.
    if (!host.empty() && !ip_literal &&
        wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, host.data(),
                       static_cast<unsigned short>(host.size())) != WOLFSSL_SUCCESS) {
        return Error{"cannot set the TLS server name " + host};
    }
    if (verify == Verify::none || verify == Verify::dane || host.empty()) {
        return {};
    }
    // wolfSSL checks a DNS name against the subjectAltName dNSNames (the CN only when there are
    // none, RFC 6125 section 6.4.4) while it processes the leaf certificate, and an address
    // against the iPAddress entries; either outcome then reaches verify_callback.
    int result = ip_literal
                     ? wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(wolfSSL_get0_param(ssl), host.c_str())
                     : wolfSSL_check_domain_name(ssl, host.c_str());
    if (result != WOLFSSL_SUCCESS) {
        return Error{"cannot set the TLS peer name " + host};
    }
    return {};
}

}  // namespace

Progress Session::Impl::fail(std::string_view reason) {
    state = State::failed;
    failure_reason = internal::printable(reason, reason_length_max);
    // wolfSSL also queues its errors per thread; the reason above is all anyone needs.
    wolfSSL_ERR_clear_error();
    return Progress::failed;
}

void Session::Impl::record_verify_failure(const WOLFSSL_X509_STORE_CTX& store) {
    if (verify_failed) {
        return;  // the first failure is the one that explains the others
    }
    verify_failed = true;
    verify_failure = internal::verify_error_text(store.error);
    verify_failure += " (depth " + std::to_string(store.error_depth);
    if (store.domain != nullptr && store.domain[0] != '\0') {
        verify_failure += ", CN=" + internal::printable(store.domain, common_name_length_max);
    }
    verify_failure += ")";
}

std::string Session::Impl::describe_error(int error_code) {
    if (output_overflow) {
        return "TLS output buffer limit exceeded";
    }
    if (verify_failed && verify == Verify::required && state == State::handshaking) {
        return "certificate verify failed: " + verify_failure;
    }
    std::string prefix = state == State::handshaking ? "TLS handshake failed: " : "TLS failed: ";
    WOLFSSL_ALERT_HISTORY history{};
    if (error_code == FATAL_ERROR && wolfSSL_get_alert_history(ssl, &history) == WOLFSSL_SUCCESS &&
        history.last_rx.level == alert_fatal) {
        const char* alert = wolfSSL_alert_desc_string_long(history.last_rx.code);
        return prefix + "peer sent alert " +
               internal::printable(alert != nullptr ? alert : "unknown", 60);
    }
    return prefix + internal::error_text(error_code);
}

Progress Session::Impl::handle_error(int result) {
    int error = wolfSSL_get_error(ssl, result);
    switch (error) {
        case WOLFSSL_ERROR_WANT_READ:
            return Progress::want_input;
        case WOLFSSL_ERROR_WANT_WRITE:
            return Progress::want_output;
        case WOLFSSL_ERROR_ZERO_RETURN:
            state = State::closed;
            return Progress::closed;
        default:
            return fail(describe_error(error));
    }
}

void Session::Impl::on_established() {
    state = State::established;
    protocol_version = wolfSSL_get_version(ssl);
    const char* cipher = wolfSSL_CIPHER_get_name(wolfSSL_get_current_cipher(ssl));
    cipher_name = cipher != nullptr ? cipher : "";
    if (side != Side::client) {
        return;
    }
    WOLFSSL_X509* certificate = wolfSSL_get_peer_certificate(ssl);
    if (certificate == nullptr) {
        return;
    }
    char name[256];
    int length = wolfSSL_X509_NAME_get_text_by_NID(wolfSSL_X509_get_subject_name(certificate),
                                                   NID_commonName, name, sizeof(name));
    if (length > 0) {
        peer_common_name = internal::printable(
            std::string_view(name, std::min<std::size_t>(length, sizeof(name) - 1)),
            common_name_length_max);
    }
    wolfSSL_X509_free(certificate);
    peer_verified = verify != Verify::none && verify != Verify::dane && !verify_failed;
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Result<Session> Session::server(const Context& context) {
    const internal::ContextState& state = context.internal_state();
    RELAY_ASSERT(state.side == Side::server);
    auto impl = make_impl(state);
    if (!impl) {
        return impl.error();
    }
    return Session(std::move(*impl));
}

Result<Session> Session::client(const Context& context, std::string_view host_name) {
    const internal::ContextState& state = context.internal_state();
    RELAY_ASSERT(state.side == Side::client);
    if (!host_name.empty() && host_name.back() == '.') {
        host_name.remove_suffix(1);
    }
    if (host_name.size() > host_name_length_max ||
        !std::all_of(host_name.begin(), host_name.end(), is_host_name_character)) {
        return Error{"invalid TLS peer host name " +
                     internal::printable(host_name, host_name_length_max)};
    }
    if (host_name.empty() && state.verify == Verify::required) {
        return Error{"TLS verification is required but no host name was given"};
    }
    auto impl = make_impl(state);
    if (!impl) {
        return impl.error();
    }
    WOLFSSL* ssl = (*impl)->ssl;
    if (state.verify != Verify::none) {
        wolfSSL_set_verify(ssl, WOLFSSL_VERIFY_PEER, verify_callback);
        wolfSSL_SetCertCbCtx(ssl, impl->get());
    }
    if (Status status = set_peer_name(ssl, state.verify, std::string(host_name)); !status) {
        return status.error();
    }
    return Session(std::move(*impl));
}

std::size_t Session::feed(std::span<const std::byte> ciphertext) {
    Impl& session = *impl_;
    if (session.state == State::closed || session.state == State::failed) {
        return ciphertext.size();  // nothing will read it: drop it rather than stall the caller
    }
    if (session.input.tail_room() < ciphertext.size()) {
        session.input.compact();  // nobody holds a span into the input buffer
    }
    return session.input.append(ciphertext);
}

std::size_t Session::input_room_bytes() const {
    return impl_->input.room();
}

std::span<const std::byte> Session::output() const {
    return impl_->output.bytes();
}

void Session::consume_output(std::size_t bytes) {
    impl_->output.consume(bytes);
    impl_->output.compact();  // the caller holds no span now: turn freed room into tail room
}

Progress Session::handshake() {
    Impl& session = *impl_;
    switch (session.state) {
        case State::established:
            return Progress::done;
        case State::closed:
            return Progress::closed;
        case State::failed:
            return Progress::failed;
        case State::handshaking:
            break;
    }
    int result = wolfSSL_negotiate(session.ssl);
    if (result == WOLFSSL_SUCCESS) {
        session.on_established();
        return Progress::done;
    }
    return session.handle_error(result);
}

IoResult Session::read(std::span<std::byte> plaintext) {
    Impl& session = *impl_;
    RELAY_ASSERT(session.state != State::handshaking);
    if (session.state == State::closed) {
        return {0, Progress::closed};
    }
    if (session.state == State::failed) {
        return {0, Progress::failed};
    }
    if (plaintext.empty()) {
        return {0, Progress::done};
    }
    if (session.output.tail_room() < control_reserve_bytes) {
        return {0, Progress::want_output};  // reading may make wolfSSL answer (alert, KeyUpdate)
    }
    int size = static_cast<int>(std::min<std::size_t>(plaintext.size(), read_bytes_max));
    int result = wolfSSL_read(session.ssl, plaintext.data(), size);
    if (result > 0) {
        return {static_cast<std::size_t>(result), Progress::done};
    }
    return {0, session.handle_error(result)};
}

IoResult Session::write(std::span<const std::byte> plaintext) {
    Impl& session = *impl_;
    RELAY_ASSERT(session.state != State::handshaking);
    if (session.state != State::established) {
        return {0, session.state == State::closed ? Progress::closed : Progress::failed};
    }
    int fragment_bytes_max = wolfSSL_GetMaxOutputSize(session.ssl);
    if (fragment_bytes_max <= 0) {
        return {0, session.fail("TLS failed: " + internal::error_text(fragment_bytes_max))};
    }
    std::size_t consumed = 0;
    // Each pass takes at least write_chunk_bytes_min bytes of room, so the loop is bounded by
    // output_bytes_max / write_chunk_bytes_min passes.
    while (consumed < plaintext.size() && session.output.tail_room() > control_reserve_bytes) {
        std::size_t room = session.output.tail_room() - control_reserve_bytes;
        std::size_t chunk =
            std::min(plaintext.size() - consumed, static_cast<std::size_t>(fragment_bytes_max));
        int wire_bytes = wolfSSL_GetOutputSize(session.ssl, static_cast<int>(chunk));
        if (wire_bytes <= 0) {
            return {consumed, session.fail("TLS failed: " + internal::error_text(wire_bytes))};
        }
        std::size_t overhead = static_cast<std::size_t>(wire_bytes) - chunk;
        if (static_cast<std::size_t>(wire_bytes) > room) {
            std::size_t fitting =
                room > overhead + padding_slack_bytes ? room - overhead - padding_slack_bytes : 0;
            if (fitting < write_chunk_bytes_min) {
                break;
            }
            chunk = fitting;
        }
        int result =
            wolfSSL_write(session.ssl, plaintext.data() + consumed, static_cast<int>(chunk));
        if (result <= 0) {
            return {consumed, session.handle_error(result)};
        }
        RELAY_ASSERT(static_cast<std::size_t>(result) == chunk);
        consumed += chunk;
    }
    return {consumed, consumed == plaintext.size() ? Progress::done : Progress::want_output};
}

Progress Session::shutdown() {
    Impl& session = *impl_;
    switch (session.state) {
        case State::failed:
            return Progress::failed;
        case State::handshaking:
            // No keys yet: a close_notify now would go out in clear and tell the peer nothing.
            session.state = State::closed;
            return Progress::done;
        case State::established:
        case State::closed:
            break;
    }
    if (session.close_notify_sent) {
        return Progress::done;
    }
    if (session.output.tail_room() < control_reserve_bytes) {
        return Progress::want_output;
    }
    int result = wolfSSL_shutdown(session.ssl);
    if (result == WOLFSSL_SUCCESS || result == WOLFSSL_SHUTDOWN_NOT_DONE) {
        session.close_notify_sent = true;
        session.state = State::closed;
        return Progress::done;
    }
    return session.handle_error(result);
}

State Session::state() const {
    return impl_->state;
}
Side Session::side() const {
    return impl_->side;
}
std::string_view Session::failure_reason() const {
    return impl_->failure_reason;
}
std::string_view Session::protocol_version() const {
    return impl_->protocol_version;
}
std::string_view Session::cipher_name() const {
    return impl_->cipher_name;
}
bool Session::peer_verified() const {
    return impl_->peer_verified;
}
std::string_view Session::verify_failure() const {
    return impl_->verify_failure;
}
std::string_view Session::peer_common_name() const {
    return impl_->peer_common_name;
}

const std::vector<std::vector<std::uint8_t>>& Session::peer_chain() const {
    return impl_->peer_chain;
}

std::size_t Session::buffered_bytes() const {
    return impl_->input.allocated_bytes() + impl_->output.allocated_bytes();
}

}  // namespace relay::tls
