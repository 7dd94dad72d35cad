// ingress.cc -- accepting connections and driving SMTP sessions on one worker.
#include "relay/ingress/ingress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "bounce_listener.h"
#include "dkim_body_hashes.h"
#include "dkim_signer.h"
#include "message_id.h"
#include "proxy_header_reader.h"
#include "relay/base/ascii.h"
#include "relay/base/clock.h"
#include "relay/base/incident.h"
#include "relay/base/log.h"
#include "relay/engine/tcp_connection.h"
#include "relay/message/from_addresses.h"
#include "relay/smtp/address.h"
#include "relay/smtp/server_replies.h"
#include "relay/store/tenant_names.h"
#include "relay/tls/stream.h"
#include "stats_counting.h"
#include "stop_list_check.h"

namespace relay::ingress {
namespace {

constexpr auto sweep_interval = std::chrono::seconds(1);

// A message on its way through the signing pool: what the signer reads, and what the commit
// that follows needs. Owned by the job and the answer posted back, never by two threads at once.
struct SigningJob {
    std::shared_ptr<const policy::TenantSnapshot> snapshot;
    std::shared_ptr<const config::Config> config;  // of the commit: [dkim] reloads
    std::string domain;
    std::string header_block;
    spool::QueuedMessage message;
    std::shared_ptr<smtp::Transaction> summary;
};

std::vector<std::string> sign_job(const SigningJob& job) {
    thread_local internal::DkimSigner signer;  // one per thread: its key copies are its own
    return signer.sign(*job.snapshot, job.config->dkim, job.domain, job.header_block,
                       job.message.envelope,
                       static_cast<std::int64_t>(job.message.envelope.received_unix_ms / 1000));
}

smtp::ServerSettings settings_for(const config::Config& config, const config::Listener& listener) {
    smtp::ServerSettings settings;
    settings.hostname = config.server.hostname;
    settings.command_line_bytes_max = config.limits.command_line_bytes_max;
    settings.recipients_per_message_max = config.limits.recipients_per_message_max;
    settings.errors_per_session_max = config.limits.errors_per_session_max;
    settings.pending_input_bytes_max = config.limits.pending_input_bytes_max;
    settings.output_bytes_max = config.limits.session_output_bytes_max;
    settings.pass.message_bytes_max = config.limits.message_bytes_max;
    settings.pass.header_bytes_max = config.limits.header_bytes_max;
    settings.pass.line_bytes_max = config.limits.message_line_bytes_max;
    settings.pass.bare_line_endings = listener.bare_line_endings;
    settings.pass.require_valid_utf8 = config.limits.require_valid_utf8;
    settings.pass.require_utf8_charsets = config.limits.require_utf8_charsets;
    settings.pass.mime_depth_max = config.limits.mime_depth_max;
    settings.recommendations.recipients_per_message_max =
        config.recommendations.recipients_per_message_max;
    settings.recommendations.message_bytes_max = config.recommendations.message_bytes_max;
    if (listener.auth == config::ListenerAuth::required) {
        settings.auth =
            listener.auth_plaintext ? smtp::AuthOffer::always : smtp::AuthOffer::with_tls;
        settings.auth_required = true;
    }
    settings.starttls = listener.tls == config::ListenerTls::starttls;
    if (listener.role == config::ListenerRole::bounce) {
        // Reports come in every charset and with the long lines of quoted messages; their size
        // is bounded by what the report sink keeps, not by a refusal the sender would bounce.
        settings.pass.message_bytes_max = 0;
        settings.pass.line_bytes_max = 0;
        settings.pass.require_valid_utf8 = false;
        settings.pass.require_utf8_charsets = false;
        // The sending recommendations are advice to tenants; a mail server returning a large
        // bounce has nothing to change.
        settings.recommendations = smtp::Recommendations{0, 0};
    }
    return settings;
}

// A Message-ID field's value, trimmed; "" when the header block has none.
std::string message_id_of(const message::HeaderBlock& headers) {
    const message::HeaderField* field = headers.find("message-id");
    if (field == nullptr) {
        return {};
    }
    std::string value =
        headers.unfolded_field(static_cast<std::size_t>(field - headers.fields.data()));
    std::size_t first = value.find_first_not_of(" \t");
    std::size_t last = value.find_last_not_of(" \t");
    return first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
}

// A linear scan: a listener lists a handful of networks, and an admitted client costs no
// allocation.
bool admits(const std::vector<config::Cidr>& networks, const engine::SocketAddress& peer) {
    return std::ranges::any_of(
        networks, [&](const config::Cidr& network) { return network.contains(peer.get()); });
}

// A reader that fails to start leaves the worker without stop lists, said once in the log; the
// store opened, so this is not expected.
std::unique_ptr<store::StopListReader> make_stop_reader(store::StopListStore* stop_lists) {
    if (stop_lists == nullptr) {
        return nullptr;
    }
    auto reader = stop_lists->reader();
    if (!reader) {
        log::error("stop lists are not checked on this worker: {}", reader.error().message);
        return nullptr;
    }
    return std::move(reader.value());
}

}  // namespace

// One client connection: TCP in, SMTP state machine, spool out.
class Ingress::Session final : public engine::ConnectionHandler,
                               public smtp::ServerHooks,
                               public tls::StreamHandler {
  public:
    // `peer`: the socket's; the client until a PROXY header names another (start()).
    Session(Ingress& ingress, ListenerState& listener, int fd, const engine::SocketAddress& peer)
        : ingress_(ingress),
          listener_(listener),
          settings_(listener.settings),
          connection_(ingress.reactor_, fd, peer, *this),
          smtp_(*settings_, *this),
          client_(peer),
          client_ip_(peer.ip()),
          receive_in_place_(listener.config->bare_line_endings == message::BareLineEndings::reject),
          last_activity_(ingress.reactor_.now()),
          stop_list_(ingress.stop_reader_.get()) {}

    ~Session() {
        if (admitted_) {
            ingress_.limits_for(listener_).release(client_ip_);
        }
        wait_for_spool(false);
        ingress_.reactor_.timers().cancel(login_delay_timer_);
        ingress_.reactor_.timers().cancel(rate_wait_timer_);
        give_back_rate_unit();
        if (login_) {
            policy::RateLimiter::end_login(*login_);
        }
    }

    // A listener behind a load balancer: the PROXY header comes first, and says who the client
    // is; until it has, nothing is sent and no SMTP is read.
    void await_proxy_header() {
        proxy_header_.emplace(listener_.config->proxy_header_bytes_max);
        awaiting_proxy_header_ = true;
        proxy_header_since_ = ingress_.reactor_.now();
        connection_.start_receiving();
    }

    // The client is known: the socket's peer, or the one the PROXY header named. `admitted`:
    // it holds a slot of the connection limits; `refusal`: answered in place of the greeting.
    void start(const engine::SocketAddress& client, bool admitted,
               const smtp::SyntaxReply* refusal) {
        client_ = client;
        client_ip_ = client.ip();
        admitted_ = admitted;
        if (listener_.config->tls == config::ListenerTls::implicit) {
            // Even a refusal goes through TLS: in plaintext the client would read it as garbage.
            refusal_ = refusal;
            if (begin_tls()) {
                connection_.start_receiving();
            }
            return;
        }
        if (refusal != nullptr) {
            smtp_.refuse(*refusal);
        } else {
            smtp_.start();
            connection_.start_receiving();
        }
        after_smtp();
    }

    // --- engine::ConnectionHandler ---
    void on_receive(std::span<char> bytes) override {
        if (awaiting_proxy_header_) {
            receive_proxy_header(bytes);
            return;
        }
        if (tls_) {
            tls_->receive(bytes);
            connection_.flush();
            return;
        }
        receive_plaintext(bytes);
    }
    void on_disconnect(int) override {
        if (awaiting_proxy_header_) {
            if (proxy_header_->received_bytes() > 0) {
                log::info("proxy={}: closed before the end of its PROXY protocol header",
                          connection_.peer().ip());
            }
            connection_.close();
            return;
        }
        smtp_.end_of_input();
        after_smtp();
    }

    // --- tls::StreamHandler ---
    void on_tls_established() override {
        const tls::Session& session = tls_->session();
        log::debug("client={}: {} {}", client_ip_, session.protocol_version(),
                   session.cipher_name());
        if (stats::WorkerTlsVersions* versions = ingress_.tenancy_.tls_versions) {
            versions->count_inbound(session.protocol_version());
        }
        last_activity_ = ingress_.reactor_.now();
        smtp_.tls_established();
        if (listener_.config->tls == config::ListenerTls::implicit) {
            if (refusal_ != nullptr) {
                smtp_.refuse(*refusal_);
            } else {
                smtp_.start();
            }
        }
        after_smtp();
    }
    void on_tls_plaintext(std::span<char> plaintext) override { receive_plaintext(plaintext); }
    void on_tls_ended(tls::State state, std::string_view reason) override {
        if (state == tls::State::failed) {
            log::info("client={}: {}", client_ip_, reason);
        }
        smtp_.end_of_input();
        after_smtp();
    }

    void receive_plaintext(std::span<char> bytes) {
        std::uint64_t before = smtp_.progress();
        smtp_.receive(bytes);
        if (smtp_.progress() != before) {
            last_activity_ = ingress_.reactor_.now();
        }
        after_smtp();
    }
    // Message data of a large message is received straight into its chunk in the spool (no
    // copy after the kernel's). Not when bare line endings are normalised: the pass then
    // inserts bytes, which could land on received input not yet read.
    engine::ReceiveSpace receive_space() override {
        if (!receives_in_place()) {
            return {};
        }
        spool::StagingSpace space = incoming_->receiving_space(smtp_.held_input_bytes());
        return engine::ReceiveSpace{std::move(space.owner), space.bytes};
    }

    void on_sent() override {
        if (connection_.closing()) {
            return;
        }
        smtp_.resume_output();  // the client read its replies: held input goes on
        after_smtp();
    }
    void on_closed() override {
        closed_ = true;
        if (!committing_ && !checking_login_) {
            ingress_.release(this);  // else when the answer comes
        }
    }

    // --- smtp::ServerHooks ---
    message::Sink& open_message(const smtp::Transaction& transaction) override {
        if (bounce_listener()) {
            report_.emplace(ingress_.config_->bounces.message_bytes_max);
            return *report_;
        }
        incoming_ = ingress_.spool_.begin_message(transaction.declared_size.value_or(0));
        start_dkim_body_hashes();
        return *incoming_;
    }
    void abandon_message() override {
        incoming_.reset();
        report_.reset();
        dkim_body_hashes_.reset();
    }
    message::BodyObserver* body_observer() override {
        return dkim_body_hashes_.active() ? &dkim_body_hashes_ : nullptr;
    }
    void commit_message(const smtp::Transaction& transaction,
                        const message::MessagePass& pass) override;
    smtp::Verdict check_login(const smtp::Credentials& credentials) override;
    smtp::Verdict check_sender(const smtp::Transaction& transaction) override;
    smtp::Verdict check_recipient(const smtp::Transaction& transaction,
                                  std::string_view recipient) override;
    std::optional<smtp::PolicyReply> check_data(const smtp::Transaction& transaction) override {
        if (bounce_listener()) {
            return std::nullopt;
        }
        auto refused = stop_list_.check_data(transaction, smtp_.authenticated_user(), client_ip_);
        if (refused && refused->code / 100 == 5) {
            count(transaction, store::StatsCounter::refused_stop_list);
        }
        return refused;
    }
    void message_refused(const smtp::Transaction& transaction, message::Verdict verdict) override {
        if (auto counter = internal::refusal_counter(verdict)) {
            count(transaction, *counter);
        }
    }
    // Counts under the logged-in resource and the transaction's sender domain.
    void count(const smtp::Transaction& transaction, store::StatsCounter counter) {
        internal::count_stat(ingress_.tenancy_.stats, smtp_.authenticated_user(),
                             internal::sender_domain(transaction.reverse_path), counter);
    }
    void count_without_resource(store::StatsCounter counter) {
        internal::count_stat(ingress_.tenancy_.stats, {}, {}, counter);
    }

    // Once a second: timeouts, the transaction's deadline and the minimum data rate.
    void check_idle(engine::Clock::time_point now, const config::Config& config) {
        const config::Timeouts& timeouts = config.timeouts;
        if (closed_) {
            return;
        }
        if (connection_.closing()) {
            // The last replies go to a client that may never read them: not for ever.
            if (!closing_seen_) {
                closing_seen_ = true;
                closing_since_ = now;
            } else if (now - closing_since_ >= std::chrono::seconds(timeouts.close_s)) {
                connection_.abort();
            }
            return;
        }
        if (committing_ || checking_login_) {
            return;
        }
        if (awaiting_proxy_header_) {
            // Counted from the accept: trickling octets of a header does not extend it.
            std::uint32_t limit_s = listener_.config->proxy_header_timeout_s;
            if (now - proxy_header_since_ >= std::chrono::seconds(limit_s)) {
                log::warning("proxy={}: no PROXY protocol header within {} s; closing",
                             connection_.peer().ip(), limit_s);
                connection_.abort();
            }
            return;
        }
        if (tls_ && tls_->handshaking()) {
            // Counted from the handshake's start: trickling bytes into it does not extend it.
            if (now - handshake_started_ >= std::chrono::seconds(config.tls.handshake_timeout_s)) {
                log::info("client={}: TLS handshake not finished within {} s; closing", client_ip_,
                          config.tls.handshake_timeout_s);
                connection_.abort();
            }
            return;
        }
        if (connection_.sent_bytes() != sent_seen_) {
            sent_seen_ = connection_.sent_bytes();  // the client reads: progress too
            last_activity_ = now;
        }
        auto limit = std::chrono::seconds(smtp_.in_data() ? timeouts.data_s : timeouts.command_s);
        if (now - last_activity_ >= limit) {
            smtp_.timeout();
            after_smtp();
            return;
        }
        if (in_transaction_ &&
            now - transaction_started_ >= std::chrono::seconds(timeouts.transaction_s)) {
            log::warning("client={}: transaction time limit of {} s exceeded; closing", client_ip_,
                         timeouts.transaction_s);
            smtp_.transaction_timeout();
            after_smtp();
            return;
        }
        // The data rate counts only seconds in which relay was reading: a pause for a slow disk
        // or an unread reply is not the client's slowness.
        if (smtp_.in_data() && connection_.receiving()) {
            ++data_seconds_;
        }
        std::uint64_t rate_min = config.limits.data_bytes_per_s_min;
        if (rate_min > 0 && data_seconds_ >= timeouts.data_rate_grace_s &&
            smtp_.data_bytes() < data_seconds_ * rate_min) {
            log::warning("client={}: message data at {} bytes/s, below {}; closing", client_ip_,
                         smtp_.data_bytes() / data_seconds_, rate_min);
            smtp_.data_too_slow();
            after_smtp();
        }
    }

    // The spool wrote some of this worker's chunks: a session paused for it may read again.
    void spool_progressed() { after_smtp(); }

    void shutdown() {
        if (closed_) {
            return;
        }
        if (awaiting_proxy_header_) {
            connection_.abort();  // no SMTP yet: nothing to say goodbye in
            return;
        }
        smtp_.shutdown();
        after_smtp();
    }
    void abort() {
        if (!closed_) {
            connection_.abort();
        }
    }

  private:
    // Nothing goes back to a peer whose header is wrong: it is not speaking SMTP yet, and
    // whatever sent it is misconfigured or not a balancer; the log line says which octets.
    void receive_proxy_header(std::span<char> bytes) {
        internal::ProxyHeaderReader::Step step = proxy_header_->receive(bytes);
        if (std::holds_alternative<internal::ProxyHeaderReader::Waiting>(step)) {
            return;
        }
        if (const auto* malformed = std::get_if<proxy::Malformed>(&step)) {
            log::warning("proxy={}: malformed PROXY protocol header ({}); closing",
                         connection_.peer().ip(), malformed->reason);
            connection_.abort();
            return;
        }
        auto& ready = std::get<internal::ProxyHeaderReader::Ready>(step);
        engine::SocketAddress client = connection_.peer();
        if (ready.header.endpoints) {
            client = internal::socket_address(ready.header.endpoints->source);
            log::debug("client={} through proxy={} (PROXY protocol v{})", client.to_string(),
                       connection_.peer().ip(), ready.header.version);
        } else {
            // LOCAL (a balancer's health check), UNKNOWN, UNSPEC: the balancer is the client.
            log::debug(
                "proxy={}: PROXY protocol v{} header without a client; the connection is "
                "the balancer's own",
                connection_.peer().ip(), ready.header.version);
        }
        std::span<char> rest = ready.rest;  // in `bytes` or the reader: it stays until reset
        awaiting_proxy_header_ = false;
        ingress_.admit(*this, listener_, client);
        if (!rest.empty() && !connection_.closing()) {
            on_receive(rest);  // the client's first octets: a ClientHello, an early command
        }
        proxy_header_.reset();
    }
    // Sends what the state machine wrote, and follows its wishes about reading and closing.
    // Reading also pauses while the client has not read its replies, or while the message's
    // bytes wait for the disk: memory per session stays within the configured bounds.
    void after_smtp() {
        if (!send_replies()) {
            return;
        }
        if (smtp_.wants_tls() && !tls_) {
            // The 220 went out in plaintext just above; the client's ClientHello follows it.
            if (!begin_tls()) {
                return;
            }
        }
        bool transaction = smtp_.in_transaction();
        if (!transaction) {
            give_back_rate_unit();  // RSET, refused data, a failed commit: no message
        }
        if (transaction != in_transaction_) {
            in_transaction_ = transaction;
            transaction_started_ = ingress_.reactor_.now();
            data_seconds_ = 0;
        }
        if (smtp_.wants_close()) {
            wait_for_spool(false);
            if (tls_) {
                tls_->close();  // close_notify after the last reply
            }
            connection_.close();
            return;
        }
        const config::Limits& limits = ingress_.config_->limits;
        bool spool_behind =
            incoming_ && incoming_->unwritten_bytes() >= limits.session_unwritten_bytes_max;
        wait_for_spool(spool_behind);
        bool output_behind = connection_.unsent_bytes() >= limits.session_output_bytes_max;
        if (smtp_.wants_pause() || spool_behind || output_behind) {
            if (connection_.receiving()) {
                connection_.pause_receiving();
            }
        } else if (!connection_.receiving() && !connection_.closing()) {
            connection_.start_receiving();
        } else if (receives_in_place()) {
            connection_.refresh_receive();  // from a provided buffer to the chunk itself
        }
    }

    // The state machine's replies to the connection, through TLS when it is on. While a
    // handshake runs there are no keys, and a failed session takes no more: a reply written
    // then (a timeout's 421) is dropped. False when the connection was closed here.
    bool send_replies() {
        std::string& output = smtp_.output();
        if (!output.empty() && !connection_.closing()) {
            if (!tls_) {
                connection_.output().append(output);
            } else if (tls_->established() && !tls_->write(output)) {
                log::info("client={}: {}", client_ip_, tls_->session().failure_reason());
                output.clear();
                smtp_.end_of_input();
                wait_for_spool(false);
                connection_.close();
                return false;
            }
            connection_.flush();
        }
        output.clear();
        return true;
    }

    // A server TLS session from the Context current now: a certificate reloaded later is
    // presented to later handshakes only.
    bool begin_tls() {
        std::shared_ptr<const tls::Context> context = ingress_.tls_->current();
        auto session = tls::Session::server(*context);
        if (!session) {
            log::error("client={}: cannot start TLS: {}", client_ip_, session.error().message);
            smtp_.end_of_input();
            connection_.close();
            return false;
        }
        tls_.emplace(std::move(session.value()), connection_.output(), *this);
        handshake_started_ = ingress_.reactor_.now();
        tls_->start();
        connection_.flush();
        return true;
    }

    bool receives_in_place() const {
        return !tls_ && receive_in_place_ && incoming_ && smtp_.in_data() &&
               incoming_->fills_chunks();
    }

    // Joins or leaves the worker's list of sessions paused for the disk; the list is touched
    // only when that changes, not on every turn of the session.
    void wait_for_spool(bool waiting) {
        if (waiting == waiting_for_spool_) {
            return;
        }
        waiting_for_spool_ = waiting;
        if (waiting) {
            ingress_.waiting_for_spool_.insert(this);
        } else {
            ingress_.waiting_for_spool_.erase(this);
        }
    }

    void on_committed(Result<spool::QueueId> queued, const smtp::Transaction& transaction,
                      std::uint64_t size_bytes);
    bool bounce_listener() const { return listener_.config->role == config::ListenerRole::bounce; }
    void commit_report(const smtp::Transaction& transaction);
    void on_report_handled(const Status& handled, const std::string& id);
    void index_sent(spool::QueueId id, const smtp::Transaction& transaction);
    void on_login_checked(const policy::LoginResult& result);
    std::optional<policy::LoginResult> start_check(const smtp::Credentials& credentials);
    smtp::Verdict login_verdict(const policy::LoginResult& result);
    std::optional<smtp::PolicyReply> check_from(const message::MessagePass& pass);
    std::optional<smtp::PolicyReply> take_rate_unit(const std::string& user);
    void wait_for_rate_unit(const std::string& user);
    void give_back_rate_unit();
    bool admit_login(const std::string& username);
    void start_dkim_body_hashes();
    std::optional<std::string> signing_domain(const message::MessagePass& pass,
                                              const spool::Envelope& envelope) const;
    bool sign_on_pool(std::shared_ptr<SigningJob>& job);
    void on_signed(const std::shared_ptr<SigningJob>& job);
    void commit_to_spool(spool::QueuedMessage message,
                         const std::shared_ptr<smtp::Transaction>& summary);
    static smtp::PolicyReply refusal(const smtp::SyntaxReply& reply) {
        return smtp::PolicyReply{reply.code, std::string(reply.enhanced), std::string(reply.text)};
    }

    Ingress& ingress_;
    ListenerState& listener_;
    std::shared_ptr<const smtp::ServerSettings> settings_;  // outlives smtp_
    engine::TcpConnection connection_;
    smtp::ServerSession smtp_;
    // A balanced listener's PROXY header, until it has been read; the reader outlives the
    // wait by the call that hands its last octets on.
    bool awaiting_proxy_header_ = false;
    std::optional<internal::ProxyHeaderReader> proxy_header_;
    engine::Clock::time_point proxy_header_since_{};
    std::optional<tls::Stream> tls_;
    engine::Clock::time_point handshake_started_{};
    const smtp::SyntaxReply* refusal_ = nullptr;  // implicit TLS: sent once the handshake ends
    // The client: the socket's peer, or the one a PROXY header named. Everything that asks
    // who the client is (allowlist, limits, throttle, project networks, logs, Received:) asks
    // these, never the connection.
    engine::SocketAddress client_;
    std::string client_ip_;
    bool admitted_ = false;  // holds a slot of the connection limits
    bool receive_in_place_;
    engine::Clock::time_point last_activity_;
    std::unique_ptr<spool::WorkerSpool::Incoming> incoming_;
    std::optional<internal::ReportSink> report_;  // a bounce listener's message in DATA
    std::string message_id_;  // of the message being committed, for the bounce processor's index
    internal::DkimBodyHashes dkim_body_hashes_;
    bool committing_ = false;
    bool checking_login_ = false;  // a login is delayed or on the hash pool: the session waits
    engine::TimerQueue::TimerId login_delay_timer_ = 0;
    bool closed_ = false;
    std::uint64_t sent_seen_ = 0;
    bool in_transaction_ = false;
    engine::Clock::time_point transaction_started_{};
    std::uint64_t data_seconds_ = 0;  // seconds in DATA/BDAT while relay was reading
    bool closing_seen_ = false;
    bool waiting_for_spool_ = false;
    engine::Clock::time_point closing_since_{};
    // The unit of the resource's message rate taken at MAIL: spent when the message is queued,
    // given back when the transaction ends otherwise.
    std::optional<policy::RateUnit> rate_unit_;
    // Cluster mode: MAIL waits for leased units (wait_for_rate_unit) until rate_wait_until_.
    engine::TimerQueue::TimerId rate_wait_timer_ = 0;
    engine::Clock::time_point rate_wait_until_{};
    std::string rate_wait_domain_;
    // This connection's place among its resource's logged-in connections, until it ends.
    std::optional<policy::ResourceLogin> login_;
    internal::StopListCheck stop_list_;
};

// The From field says who the message is from to its reader (and to DMARC): on a listener with
// AUTH, every address in it must be of the logged-in resource's domains, as the envelope sender
// is, or one tenant could write as another. A field that two parsers could read differently is
// refused too (message/from_addresses.h).
std::optional<smtp::PolicyReply> Ingress::Session::check_from(const message::MessagePass& pass) {
    if (listener_.config->auth != config::ListenerAuth::required) {
        return std::nullopt;
    }
    const std::string& user = smtp_.authenticated_user();
    message::FromAddresses from =
        message::from_addresses(pass.headers(), message::from_mailboxes_max_default);
    if (const auto* unreadable = std::get_if<message::FromRefusal>(&from)) {
        log::warning("client={} user={}: message refused: From field {}", client_ip_, user,
                     message::from_refusal_name(*unreadable));
        return refusal(smtp::server_replies::from_unreadable);
    }
    const policy::TenantSnapshots* snapshots = ingress_.tenancy_.snapshots;
    std::shared_ptr<const policy::TenantSnapshot> snapshot =
        snapshots != nullptr ? snapshots->current() : nullptr;
    for (const std::string& domain : std::get<message::FromDomains>(from).domains) {
        if (snapshot == nullptr || !snapshot->has_domain(user, domain)) {
            log::warning("client={} user={}: message refused: From domain {} is not theirs",
                         client_ip_, user, domain);
            return refusal(smtp::server_replies::from_not_owned);
        }
    }
    return std::nullopt;
}

void Ingress::Session::start_dkim_body_hashes() {
    const policy::TenantSnapshots* snapshots = ingress_.tenancy_.snapshots;
    std::shared_ptr<const policy::TenantSnapshot> snapshot =
        snapshots != nullptr ? snapshots->current() : nullptr;
    dkim_body_hashes_.start(snapshot.get(), smtp_.authenticated_user());
}

// Signed with the keys of the From domain (check_from made sure it is the resource's), where
// DMARC looks for alignment. Nullopt: not a message of an authenticated resource.
std::optional<std::string> Ingress::Session::signing_domain(const message::MessagePass& pass,
                                                            const spool::Envelope& envelope) const {
    if (ingress_.tenancy_.snapshots == nullptr || envelope.resource.empty()) {
        return std::nullopt;
    }
    message::FromAddresses from =
        message::from_addresses(pass.headers(), message::from_mailboxes_max_default);
    const auto* domains = std::get_if<message::FromDomains>(&from);
    if (domains == nullptr || domains->domains.empty()) {
        return std::nullopt;
    }
    auto domain = store::check_domain(domains->domains.front());
    return domain ? std::optional<std::string>(std::move(domain.value())) : std::nullopt;
}

// Signing takes 0.4 ms per RSA key (docs/dkim.md, "Where signing runs"): on the signing pool
// the worker serves its other sessions meanwhile. False when there is no pool or its queue is
// full: the caller signs here, as it does for a domain without keys (which it then logs).
bool Ingress::Session::sign_on_pool(std::shared_ptr<SigningJob>& job) {
    policy::HashPool* pool = ingress_.tenancy_.signing_pool;
    if (pool == nullptr || job->snapshot->dkim_keys().keys_of(job->domain).empty()) {
        return false;
    }
    engine::Reactor& reactor = ingress_.reactor_;
    // Signed messages come back one by one; the spool's commits meanwhile wait a little for
    // them, so that they share a flush rather than take one each (spool_writer.h).
    ingress_.spool_.expect_commit();
    bool submitted = pool->submit([this, job, &reactor] {
        job->message.envelope.dkim_signatures = sign_job(*job);
        reactor.post([this, job] { on_signed(job); });
    });
    if (!submitted) {
        ingress_.spool_.end_expected_commit();
    }
    return submitted;
}

void Ingress::Session::on_signed(const std::shared_ptr<SigningJob>& job) {
    spool::WorkerSpool& spool = ingress_.spool_;
    if (closed_) {  // the client left before its reply: nothing was promised, nothing is kept
        incoming_.reset();
        committing_ = false;
        ingress_.release(this);
        spool.end_expected_commit();
        return;
    }
    commit_to_spool(std::move(job->message), job->summary);
    spool.end_expected_commit();  // after the commit, so that it joins the batch this may start
}

void Ingress::Session::commit_to_spool(spool::QueuedMessage message,
                                       const std::shared_ptr<smtp::Transaction>& summary) {
    std::uint64_t size_bytes = incoming_->size_bytes();
    ingress_.spool_.commit(std::move(incoming_), std::move(message),
                           [this, summary, size_bytes](Result<spool::QueueId> queued) {
                               on_committed(std::move(queued), *summary, size_bytes);
                           });
}

void Ingress::Session::commit_message(const smtp::Transaction& transaction,
                                      const message::MessagePass& pass) {
    if (bounce_listener()) {
        commit_report(transaction);
        return;
    }
    if (std::optional<smtp::PolicyReply> refused = check_from(pass)) {
        count(transaction, store::StatsCounter::refused_sender);
        // Answered on the next turn, not from inside the session's own call.
        incoming_.reset();
        dkim_body_hashes_.reset();
        committing_ = true;
        ingress_.reactor_.defer([this, reply = std::move(*refused)] {
            committing_ = false;
            if (closed_) {
                ingress_.release(this);
                return;
            }
            smtp_.commit_refused(reply);
            after_smtp();
        });
        return;
    }
    spool::QueuedMessage message;
    spool::Envelope& envelope = message.envelope;
    envelope.reverse_path = transaction.reverse_path;
    envelope.smtputf8 = transaction.smtputf8;
    envelope.eight_bit =
        transaction.body == smtp::BodyType::eight_bit_mime || pass.outcome().has_8bit;
    envelope.received_unix_ms = unix_ms_now();
    envelope.client_ip = client_ip_;
    envelope.client_helo = smtp_.helo();
    // RFC 3848: the S marks a message received over TLS, the A one sent after AUTH (ESMTPSA).
    envelope.protocol = std::string(smtp_.extended() ? "ESMTP" : "SMTP") +
                        (smtp_.tls_active() ? "S" : "") +
                        (smtp_.authenticated_user().empty() ? "" : "A");
    envelope.listener = listener_.config->name;
    envelope.resource = smtp_.authenticated_user();  // empty on a listener without AUTH
    if (tls_ && tls_->established()) {               // for the Received: field
        envelope.tls_version =
            std::string(tls_->session().protocol_version().substr(0, spool::tls_name_bytes_max));
        envelope.tls_cipher =
            std::string(tls_->session().cipher_name().substr(0, spool::tls_name_bytes_max));
    }
    envelope.header_bytes = static_cast<std::uint32_t>(pass.headers().bytes.size());
    if (const policy::TenantSnapshots* snapshots = ingress_.tenancy_.snapshots;
        snapshots != nullptr && !envelope.resource.empty()) {
        // Fixed now, so every attempt of this message uses the same one (docs/tenants.md).
        if (const store::ResourceRecord* record =
                snapshots->current()->resource(envelope.resource)) {
            envelope.return_path = record->return_path;
        }
    }
    if (!internal::has_message_id(pass.headers())) {
        envelope.message_id =
            internal::make_message_id(incoming_->queue_id(), ingress_.config_->server.hostname);
    }
    message_id_ = ingress_.tenancy_.bounces == nullptr ? std::string()
                  : envelope.message_id.empty()        ? message_id_of(pass.headers())
                                                       : envelope.message_id;
    dkim_body_hashes_.finish_into(envelope);
    message.recipients.reserve(transaction.recipients.size());
    for (const std::string& recipient : transaction.recipients) {
        message.recipients.push_back(spool::Recipient{recipient});
    }
    committing_ = true;
    auto summary = std::make_shared<smtp::Transaction>(transaction);
    if (std::optional<std::string> domain = signing_domain(pass, envelope)) {
        // The signatures cover the header block as delivered: an added Message-ID in front.
        std::string header_block =
            envelope.message_id.empty()
                ? pass.headers().bytes
                : internal::message_id_field(envelope.message_id) + pass.headers().bytes;
        auto job = std::make_shared<SigningJob>(
            SigningJob{ingress_.tenancy_.snapshots->current(), ingress_.config_, std::move(*domain),
                       std::move(header_block), std::move(message), summary});
        if (sign_on_pool(job)) {
            return;  // on_signed commits
        }
        job->message.envelope.dkim_signatures = sign_job(*job);
        message = std::move(job->message);
    }
    commit_to_spool(std::move(message), summary);
}

// Failed logins are throttled per client address and per username before any password is
// looked at: after a few failures each check waits (a timer, the worker does not block), after
// more the login is refused outright until the lockout ends. The refusal is the 454 of a store
// that cannot answer, so that guessing learns nothing from it. The answer may come at once (a
// login this worker remembers) or later from the hash pool; the session stays alive until it
// comes, even if the client has gone.
smtp::Verdict Ingress::Session::check_login(const smtp::Credentials& credentials) {
    if (ingress_.tenancy_.verifier == nullptr) {
        log::warning("client={}: login refused: no tenant store on this worker", client_ip_);
        return refusal(smtp::server_replies::auth_unavailable_now);
    }
    if (const std::atomic<std::int64_t>* down = ingress_.tenancy_.store_down_since_ms) {
        std::int64_t since_ms = down->load(std::memory_order_relaxed);
        std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
        if (since_ms != 0 && now_ms - since_ms >= ingress_.tenancy_.store_grace_ms) {
            log::warning("client={}: login {} refused: the shared store has not answered for {} s",
                         client_ip_, credentials.username, (now_ms - since_ms) / 1000);
            return refusal(smtp::server_replies::auth_unavailable_now);
        }
    }
    // A project's client networks come before the throttle and the password: outside them every
    // guess gets the same 535 as a wrong password and no hash is spent, so such a client learns
    // nothing about the password, and its tries are not counted as failures, which would let
    // it lock the login out for the project's own servers. (The quick answer does tell it that
    // the username exists and is narrowed.)
    if (const policy::TenantSnapshots* snapshots = ingress_.tenancy_.snapshots;
        snapshots != nullptr &&
        !snapshots->current()->login_allowed_from(credentials.username, client_.get())) {
        std::string_view username = credentials.username;
        log::warning("client={}: login {} refused: client address outside project {}'s networks",
                     client_ip_, username, username.substr(0, username.find('/')));
        count_without_resource(store::StatsCounter::refused_allowlist);
        return refusal(smtp::server_replies::auth_invalid);
    }
    if (policy::LoginThrottle* throttle = ingress_.tenancy_.throttle) {
        policy::Admission admission =
            throttle->admit(client_ip_, credentials.username, unix_ms_now());
        if (admission.kind == policy::Admission::Kind::refuse) {
            log::warning("client={}: login {} refused: locked out after repeated failures for {} s",
                         client_ip_, credentials.username,
                         (admission.refused_until_ms - unix_ms_now()) / 1000 + 1);
            count_without_resource(store::StatsCounter::refused_auth);
            return refusal(smtp::server_replies::auth_unavailable_now);
        }
        if (admission.kind == policy::Admission::Kind::check_after_delay) {
            checking_login_ = true;
            auto held = std::make_shared<smtp::Credentials>(credentials);
            login_delay_timer_ = ingress_.reactor_.timers().add(
                ingress_.reactor_.now() + std::chrono::milliseconds(admission.delay_ms),
                [this, held] {
                    login_delay_timer_ = 0;
                    std::optional<policy::LoginResult> now = start_check(*held);
                    smtp::wipe(*held);
                    if (now) {
                        on_login_checked(*now);
                    }
                });
            return smtp::Verdict::later();
        }
    }
    std::optional<policy::LoginResult> now = start_check(credentials);
    if (!now) {
        return smtp::Verdict::later();
    }
    return login_verdict(*now);
}

// Hands the credentials to the verifier: its answer if it has one at once, else nullopt and
// on_login_checked is called when the hash pool answers.
std::optional<policy::LoginResult> Ingress::Session::start_check(
    const smtp::Credentials& credentials) {
    struct Pending {
        bool in_call = true;
        std::optional<policy::LoginResult> result;
    };
    auto pending = std::make_shared<Pending>();
    ingress_.tenancy_.verifier->verify(credentials.username, credentials.password,
                                       [this, pending](const policy::LoginResult& result) {
                                           if (pending->in_call) {
                                               pending->result = result;
                                           } else {
                                               on_login_checked(result);
                                           }
                                       });
    pending->in_call = false;
    checking_login_ = !pending->result;
    return pending->result;
}

void Ingress::Session::on_login_checked(const policy::LoginResult& result) {
    checking_login_ = false;
    if (closed_) {
        ingress_.release(this);
        return;
    }
    smtp::Verdict verdict = login_verdict(result);
    smtp_.decide(verdict.refusal());
    after_smtp();
}

// Logged without the password, and a wrong password and an unknown user look the same to the
// client (RFC 4954 §6's 535 for both).
smtp::Verdict Ingress::Session::login_verdict(const policy::LoginResult& result) {
    if (policy::LoginThrottle* throttle = ingress_.tenancy_.throttle) {
        if (result.outcome == policy::LoginOutcome::accepted) {
            throttle->record_success(client_ip_, result.username, unix_ms_now());
        } else if (result.outcome == policy::LoginOutcome::rejected) {
            throttle->record_failure(client_ip_, result.username, unix_ms_now());
        }
    }
    switch (result.outcome) {
        case policy::LoginOutcome::accepted:
            if (!admit_login(result.username)) {
                internal::count_stat(ingress_.tenancy_.stats, result.username, {},
                                     store::StatsCounter::refused_auth);
                return refusal(smtp::server_replies::too_many_logins);
            }
            log::info("client={}: login {}{}", client_ip_, result.username,
                      result.remembered ? " (remembered)" : "");
            return {};
        case policy::LoginOutcome::rejected:
            log::warning("client={}: login {} refused: wrong username or password", client_ip_,
                         result.username);
            count_without_resource(store::StatsCounter::refused_auth);
            return refusal(smtp::server_replies::auth_invalid);
        case policy::LoginOutcome::busy:
            log::warning("client={}: login {} deferred: the password checks are saturated",
                         client_ip_, result.username);
            return refusal(smtp::server_replies::auth_unavailable_now);
    }
    return refusal(smtp::server_replies::auth_unavailable_now);
}

// A client sends as its own domains only: the envelope sender's domain must be one of the
// domains of the resource it logged in as. The null sender is for bounces, which relay makes
// itself; a client has no business sending one.
smtp::Verdict Ingress::Session::check_sender(const smtp::Transaction& transaction) {
    if (listener_.config->auth != config::ListenerAuth::required) {
        return {};
    }
    const std::string& user = smtp_.authenticated_user();
    if (transaction.reverse_path.empty()) {
        log::warning("client={} user={}: null sender refused", client_ip_, user);
        internal::count_stat(ingress_.tenancy_.stats, user, {},
                             store::StatsCounter::refused_sender);
        return refusal(smtp::server_replies::null_sender_refused);
    }
    std::string_view domain = transaction.reverse_path;
    domain.remove_prefix(domain.rfind('@') + 1);
    const policy::TenantSnapshots* snapshots = ingress_.tenancy_.snapshots;
    if (snapshots == nullptr || !snapshots->current()->has_domain(user, domain)) {
        log::warning("client={} user={}: sender <{}> refused: not a domain of this resource",
                     client_ip_, user, transaction.reverse_path);
        internal::count_stat(ingress_.tenancy_.stats, user, {},
                             store::StatsCounter::refused_sender);
        return refusal(smtp::server_replies::sender_not_owned);
    }
    if (std::optional<smtp::PolicyReply> limited = take_rate_unit(user)) {
        if (limited->code == smtp::server_replies::rate_limited.code) {
            count(transaction, store::StatsCounter::refused_rate_limit);
        }
        return *limited;
    }
    if (rate_wait_timer_ != 0) {
        rate_wait_domain_ = internal::sender_domain(transaction.reverse_path);
        return smtp::Verdict::later();
    }
    return {};
}

// Cluster mode: the node's leased units ran out and more are on their way from Redis (one round
// trip). The MAIL waits on a timer, not the worker; past the bound the fleet is as good as
// unreachable.
void Ingress::Session::wait_for_rate_unit(const std::string& user) {
    constexpr auto retry_interval = std::chrono::milliseconds(2);
    constexpr auto wait_max = std::chrono::seconds(2);
    if (rate_wait_timer_ == 0) {
        rate_wait_until_ = ingress_.reactor_.now() + wait_max;
    }
    rate_wait_timer_ =
        ingress_.reactor_.timers().add(ingress_.reactor_.now() + retry_interval, [this, user] {
            rate_wait_timer_ = 0;
            std::optional<smtp::PolicyReply> limited = take_rate_unit(user);
            if (rate_wait_timer_ != 0) {
                return;  // still waiting
            }
            if (limited && limited->code == smtp::server_replies::rate_limited.code) {
                internal::count_stat(ingress_.tenancy_.stats, user, rate_wait_domain_,
                                     store::StatsCounter::refused_rate_limit);
            }
            smtp_.decide(limited);
            after_smtp();
        });
}

// The resource's message rate, at MAIL so that no data is sent in vain. Read from the engine's
// monotonic clock itself, not the loop's cached time: every worker's decisions then share one
// time line, which is what keeps the limit exact across workers.
std::optional<smtp::PolicyReply> Ingress::Session::take_rate_unit(const std::string& user) {
    policy::RateLimiter* limiter = ingress_.tenancy_.rate_limiter;
    if (limiter == nullptr) {
        return std::nullopt;
    }
    give_back_rate_unit();  // a transaction ended within the same input (pipelined RSET, MAIL)
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      engine::Clock::now().time_since_epoch())
                      .count();
    policy::RateAdmission admission = limiter->acquire(user, now_ms);
    if (admission.unit) {
        rate_unit_ = std::move(admission.unit);
        rate_wait_until_ = {};
        return std::nullopt;
    }
    if (admission.wait && (rate_wait_until_ == engine::Clock::time_point{} ||
                           ingress_.reactor_.now() < rate_wait_until_)) {
        wait_for_rate_unit(user);
        return std::nullopt;
    }
    rate_wait_until_ = {};
    if ((admission.wait && admission.retry_after_ms == 0) || admission.unavailable) {
        log::warning("client={} user={}: MAIL refused: the fleet's rate limit cannot be checked",
                     client_ip_, user);
        return refusal(smtp::server_replies::rate_limit_unavailable);
    }
    if (!admission.known) {
        // Removed since the snapshot this check read: its domains are no longer its own.
        log::warning("client={} user={}: sender refused: the resource no longer exists", client_ip_,
                     user);
        return refusal(smtp::server_replies::sender_not_owned);
    }
    std::uint64_t wait_s = static_cast<std::uint64_t>(admission.retry_after_ms + 999) / 1000;
    log::info("client={} user={}: rate limit of {} messages per {} s reached; next in {} s",
              client_ip_, user, admission.messages, admission.window_s, wait_s);
    const smtp::SyntaxReply& limited = smtp::server_replies::rate_limited;
    return smtp::PolicyReply{
        limited.code, std::string(limited.enhanced),
        smtp::server_replies::rate_limited_text(admission.messages, admission.window_s, wait_s)};
}

// limits.connections_per_resource_max: counted from a successful AUTH to the end of the
// connection, over all workers (one atomic count per resource, beside its rate budget).
bool Ingress::Session::admit_login(const std::string& username) {
    std::uint32_t max = ingress_.config_->limits.connections_per_resource_max;
    policy::RateLimiter* limiter = ingress_.tenancy_.rate_limiter;
    if (max == 0 || limiter == nullptr) {
        return true;
    }
    login_ = limiter->admit_login(username, max);
    if (!login_) {
        log::warning("client={}: login {} refused: {} connections are logged in as it already",
                     client_ip_, username, max);
        return false;
    }
    return true;
}

void Ingress::Session::give_back_rate_unit() {
    if (rate_unit_) {
        policy::RateLimiter::give_back(*rate_unit_);
        rate_unit_.reset();
    }
}

// The stop lists: the logged-in resource's and the global one (without a login, the global one
// only). stop_list_check.h says when changes count.
smtp::Verdict Ingress::Session::check_recipient(const smtp::Transaction& transaction,
                                                std::string_view recipient) {
    if (bounce_listener()) {
        std::optional<smtp::PolicyReply> refused =
            internal::check_bounce_recipient(*ingress_.config_, recipient);
        if (refused) {
            log::info("client={}: bounce recipient <{}> refused: {} {}", client_ip_, recipient,
                      refused->code, refused->enhanced);
            return *refused;
        }
        return {};
    }
    const policy::TenantSnapshots* snapshots = ingress_.tenancy_.snapshots;
    std::shared_ptr<const policy::TenantSnapshot> snapshot =
        snapshots != nullptr ? snapshots->current() : nullptr;
    smtp::Verdict verdict = stop_list_.check_recipient(transaction, smtp_.authenticated_user(),
                                                       snapshot.get(), recipient, client_ip_);
    if (verdict.refusal() && verdict.refusal()->code / 100 == 5) {
        count(transaction, store::StatsCounter::refused_stop_list);
    }
    return verdict;
}

void Ingress::Session::on_committed(Result<spool::QueueId> queued,
                                    const smtp::Transaction& transaction,
                                    std::uint64_t size_bytes) {
    committing_ = false;
    if (queued) {
        rate_unit_.reset();  // spent: the message counts against the resource's rate
        count(transaction, store::StatsCounter::accepted);
        index_sent(queued.value(), transaction);
        std::string id = spool::format_queue_id(queued.value());
        log::info("{}: client={} from=<{}> recipients={} size={}", id, client_ip_,
                  transaction.reverse_path, transaction.recipients.size(), size_bytes);
        const std::string note = smtp_.recommendation_note();
        if (!note.empty()) {
            log::info("{}: client={} user={}: accepted past the sending recommendations: {}", id,
                      client_ip_, smtp_.authenticated_user(), note);
        }
        if (!closed_) {
            smtp_.commit_done(id);
        }
    } else {
        std::string incident = new_incident_id();
        log::error("incident {}: client={}: message not queued: {}", incident, client_ip_,
                   queued.error().message);
        if (!closed_) {
            smtp_.commit_failed(queued.error(), incident);
        }
    }
    if (closed_) {
        ingress_.release(this);
        return;
    }
    after_smtp();
}

// The Message-ID index lets a complaint without a token find this message (feedback/processor.h).
// The processor writes it on its own thread; here it is one push onto its queue.
void Ingress::Session::index_sent(spool::QueueId id, const smtp::Transaction& transaction) {
    feedback::Processor* bounces = ingress_.tenancy_.bounces;
    if (bounces == nullptr || message_id_.empty()) {
        return;
    }
    store::SentMessage sent;
    sent.message_id = std::move(message_id_);
    message_id_.clear();
    sent.queue_id = id;
    sent.resource = smtp_.authenticated_user();
    sent.sender_domain = ascii_lower(internal::sender_domain(transaction.reverse_path));
    std::size_t kept = std::min<std::size_t>(
        transaction.recipients.size(), ingress_.config_->bounces.message_index_recipients_max);
    sent.recipients.assign(transaction.recipients.begin(),
                           transaction.recipients.begin() + static_cast<std::ptrdiff_t>(kept));
    sent.sent_s = unix_ms_now() / 1000;
    bounces->sent(std::move(sent));
}

// A report goes to the bounce processor; the 250 waits until its outcomes are in the store, so
// a report answered 250 is never lost. The session stays alive until the answer comes.
void Ingress::Session::commit_report(const smtp::Transaction& transaction) {
    feedback::ReceivedReport report;
    report.truncated = report_->truncated();
    std::uint64_t size_bytes = report_->received_bytes();
    report.bytes = report_->take();
    report_.reset();
    report.recipients = transaction.recipients;
    report.client_ip = client_ip_;
    committing_ = true;
    // An id for the reply and the log, shaped like a queue id though the report is in no queue:
    // the time, the worker, and a sequence of the worker's.
    thread_local std::uint64_t sequence = 0;
    auto worker = static_cast<std::uint64_t>(ingress_.reactor_.index()) & 0xff;
    std::string id =
        spool::format_queue_id((unix_ms_now() << 20) | (worker << 12) | (++sequence & 0xfff));
    log::info("{}: client={} from=<{}> report to <{}> size={}", id, client_ip_,
              transaction.reverse_path, transaction.recipients.front(), size_bytes);
    feedback::Processor* bounces = ingress_.tenancy_.bounces;
    engine::Reactor& reactor = ingress_.reactor_;
    bool queued = bounces != nullptr && bounces->submit(std::move(report), [this, &reactor,
                                                                            id](Status handled) {
        reactor.post([this, handled = std::move(handled), id] { on_report_handled(handled, id); });
    });
    if (!queued) {
        log::warning("{}: client={}: report refused for now: {}", id, client_ip_,
                     bounces == nullptr ? "no bounce processor" : "too many reports waiting");
        ingress_.reactor_.defer([this] {
            committing_ = false;
            if (closed_) {
                ingress_.release(this);
                return;
            }
            smtp_.commit_refused(refusal(smtp::server_replies::bounce_busy));
            after_smtp();
        });
    }
}

void Ingress::Session::on_report_handled(const Status& handled, const std::string& id) {
    committing_ = false;
    if (closed_) {
        ingress_.release(this);
        return;
    }
    if (handled) {
        smtp_.commit_done(id);
    } else {
        std::string incident = new_incident_id();
        log::error("incident {}: {}: client={}: report not recorded: {}", incident, id, client_ip_,
                   handled.error().message);
        smtp_.commit_failed(handled.error(), incident);
    }
    after_smtp();
}

// ---------------------------------------------------------------------------------------------

Ingress::Ingress(engine::Reactor& reactor, std::shared_ptr<const config::Config> config,
                 spool::WorkerSpool& spool, ConnectionLimits& limits, Tenancy tenancy,
                 const tls::ServerContextSlot* tls)
    : reactor_(reactor),
      config_(std::move(config)),
      spool_(spool),
      limits_(limits),
      tenancy_(tenancy),
      tls_(tls),
      stop_reader_(make_stop_reader(tenancy.stop_lists)) {}

void Ingress::reconfigure(std::shared_ptr<const config::Config> config) {
    config_ = std::move(config);
    for (std::size_t index = 0; index < listeners_.size(); ++index) {
        ListenerState& listener = *listeners_[index];
        listener.settings =
            std::make_shared<const smtp::ServerSettings>(settings_for(*config_, *listener.config));
        if (index < config_->listeners.size()) {
            listener.clients = config_->listeners[index].clients;
            listener.proxy_from = config_->listeners[index].proxy_from;
        }
    }
}

Ingress::~Ingress() {
    reactor_.timers().cancel(sweep_timer_);
    reactor_.timers().cancel(grace_timer_);
}

Status Ingress::listen() {
    std::vector<int> sockets;
    for (const config::Listener& listener : config_->listeners) {
        auto fd = engine::TcpListener::bind_socket(listener.address, 4096);
        if (!fd) {
            for (int bound : sockets) {
                ::close(bound);
            }
            return fd.error();
        }
        sockets.push_back(fd.value());
    }
    return listen(sockets);
}

Status Ingress::listen(const std::vector<int>& sockets) {
    spool_.set_on_written([this] {
        std::vector<Session*> waiting(waiting_for_spool_.begin(), waiting_for_spool_.end());
        for (Session* session : waiting) {
            if (waiting_for_spool_.contains(session)) {
                session->spool_progressed();
            }
        }
    });
    listening_config_ = config_;
    RELAY_ASSERT(sockets.size() == listening_config_->listeners.size());
    for (std::size_t index = 0; index < sockets.size(); ++index) {
        if (listening_config_->listeners[index].tls != config::ListenerTls::none &&
            tls_ == nullptr) {
            return Error{"listener " + listening_config_->listeners[index].name +
                         ": TLS needs a server certificate"};
        }
        auto state = std::make_unique<ListenerState>();
        state->config = &listening_config_->listeners[index];
        state->clients = state->config->clients;
        state->proxy_from = state->config->proxy_from;
        state->settings =
            std::make_shared<const smtp::ServerSettings>(settings_for(*config_, *state->config));
        ListenerState* raw = state.get();
        state->listener = engine::TcpListener::adopt(
            reactor_, sockets[index],
            [this, raw](int fd, const engine::SocketAddress& peer) { accept(*raw, fd, peer); });
        listeners_.push_back(std::move(state));
    }
    sweep_timer_ = reactor_.timers().add(reactor_.now() + sweep_interval, [this] { sweep_idle(); });
    return {};
}

void Ingress::accept(ListenerState& listener, int fd, const engine::SocketAddress& peer) {
    if (listener.config->proxy_protocol && !admits(listener.proxy_from, peer)) {
        // Only a balancer may say who the client is; anyone else gets nothing, not even a
        // greeting to learn what answers here.
        if (refusal_log_.admit(reactor_.now())) {
            log::warning("proxy={} refused: not in listener {}'s proxy_from", peer.ip(),
                         listener.config->name);
        }
        ::close(fd);
        return;
    }
    auto session = std::make_unique<Session>(*this, listener, fd, peer);
    Session* raw = session.get();
    sessions_.emplace(raw, std::move(session));
    if (listener.config->proxy_protocol) {
        raw->await_proxy_header();  // admit() once the header names the client
        return;
    }
    admit(*raw, listener, peer);
}

void Ingress::admit(Session& session, ListenerState& listener,
                    const engine::SocketAddress& client) {
    // Before the connection limits: a client that may not connect holds no slot of its address.
    // A bounce listener takes every client: reports come from anywhere.
    if (listener.config->role != config::ListenerRole::bounce &&
        !admits(listener.clients, client)) {
        if (refusal_log_.admit(reactor_.now())) {
            log::warning("client={} refused: not in listener {}'s client networks", client.ip(),
                         listener.config->name);
        }
        internal::count_stat(tenancy_.stats, {}, {}, store::StatsCounter::refused_allowlist);
        session.start(client, false, &smtp::server_replies::client_not_allowed);
        return;
    }
    std::string ip = client.ip();
    ConnectionLimits::Admission admission = limits_for(listener).admit(ip);
    bool admitted = admission == ConnectionLimits::Admission::admitted;
    bool log_refusal = !admitted && refusal_log_.admit(reactor_.now());
    if (admission == ConnectionLimits::Admission::too_many_total) {
        if (log_refusal) {
            log::warning("refusing {}: too many connections", ip);
        }
        session.start(client, admitted, &smtp::server_replies::too_many_connections);
    } else if (admission == ConnectionLimits::Admission::too_many_from_client) {
        if (log_refusal) {
            log::warning("refusing {}: too many connections from this address", ip);
        }
        session.start(client, admitted, &smtp::server_replies::too_many_connections_from_client);
    } else if (admission == ConnectionLimits::Admission::too_many_per_minute_from_client) {
        if (log_refusal) {
            log::warning("refusing {}: more than {} connections from this address in a minute", ip,
                         config_->limits.connections_per_client_per_minute);
        }
        session.start(client, admitted, &smtp::server_replies::too_many_connections_per_minute);
    } else {
        session.start(client, admitted, nullptr);
    }
}

ConnectionLimits& Ingress::limits_for(const ListenerState& listener) {
    bool bounce = listener.config->role == config::ListenerRole::bounce;
    return bounce && tenancy_.bounce_limits != nullptr ? *tenancy_.bounce_limits : limits_;
}

void Ingress::sweep_idle() {
    engine::Clock::time_point now = reactor_.now();
    refusal_log_.flush(now);
    std::vector<Session*> sessions;
    sessions.reserve(sessions_.size());
    for (auto& [raw, owned] : sessions_) {
        sessions.push_back(raw);
    }
    for (Session* session : sessions) {
        if (sessions_.contains(session)) {
            session->check_idle(now, *config_);
        }
    }
    sweep_timer_ = reactor_.timers().add(reactor_.now() + sweep_interval, [this] { sweep_idle(); });
}

void Ingress::release(Session* session) {
    // Destroy on a later turn: the caller is still inside one of the session's methods.
    reactor_.defer([this, session] {
        sessions_.erase(session);
        maybe_finish_shutdown();
    });
}

void Ingress::shutdown(std::function<void()> done) {
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    for (auto& listener : listeners_) {
        listener->listener->stop();
    }
    std::vector<Session*> sessions;
    for (auto& [raw, owned] : sessions_) {
        sessions.push_back(raw);
    }
    for (Session* session : sessions) {
        session->shutdown();
    }
    grace_timer_ = reactor_.timers().add(
        reactor_.now() + std::chrono::seconds(config_->server.shutdown_grace_s), [this] {
            grace_timer_ = 0;
            for (auto& [raw, owned] : sessions_) {
                raw->abort();
            }
        });
    maybe_finish_shutdown();
}

void Ingress::maybe_finish_shutdown() {
    if (!shutting_down_ || !sessions_.empty() || !shutdown_done_) {
        return;
    }
    for (auto& listener : listeners_) {
        if (!listener->listener->stopped()) {
            // The accept cancellation is still in flight; look again shortly.
            reactor_.timers().add(reactor_.now() + std::chrono::milliseconds(10),
                                  [this] { maybe_finish_shutdown(); });
            return;
        }
    }
    reactor_.timers().cancel(grace_timer_);
    reactor_.timers().cancel(sweep_timer_);
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
}

}  // namespace relay::ingress
