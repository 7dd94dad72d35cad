// server_session.h -- the SMTP server state machine for one client connection (RFC 5321 §3-4,
// RFC 2920 PIPELINING, RFC 3030 CHUNKING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8,
// RFC 2034 ENHANCEDSTATUSCODES, RFC 3207 STARTTLS).
//
// Pure: bytes in (`receive`), reply bytes out (`output`), decisions about the message handed to
// `ServerHooks`. No sockets, no files, no clock: the connection driver feeds bytes, flushes the
// output, closes when asked, and reports timeouts. That is what lets tests and fuzzers drive a
// whole session without a kernel.
//
// Untrusted bytes: every input. Bounded: a command line (command_line_bytes_max), the input held
// while a commit is pending (pending_input_bytes_max; above it the driver stops reading), the
// recipient list, the error count.
//
// Closed at once (421), before anything else is read: binary octets before the first successful
// HELO/EHLO (TLS sent to a plaintext port, or another protocol), and input already received after
// a DATA that is refused (the client did not wait for the reply, so what follows is message text
// that would otherwise run as commands).
//
// Decisions (AUTH credentials, MAIL, RCPT, the end of the data) are the hooks'. A hook answers at
// once or later (Verdict::later, then ServerSession::decide); meanwhile the session waits: input
// is held (bounded as above), timeouts wait for the answer, the reply goes out when it comes.
// So a password hash on another thread or a shared rate limiter never blocks a worker.
//
// SMTP AUTH (RFC 4954): PLAIN and LOGIN, with or without an initial response, offered only with
// TLS unless the listener allows plaintext. Credentials are wiped once the hooks have them.
//
// STARTTLS (RFC 3207): the session answers 220 and then reads nothing more (wants_tls) until
// the driver reports the handshake done (tls_established). Input received after the STARTTLS
// line is discarded, never read as commands inside TLS (the command-injection class of
// CVE-2011-0411), and the session forgets what it learnt before the handshake (§4.2): the
// client must send EHLO again. STARTTLS once TLS is active gets 503 and counts as an error.
//
// Every reply the session can give is listed in docs/smtp-replies.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "relay/base/result.h"
#include "relay/message/message_pass.h"
#include "relay/smtp/command.h"
#include "relay/smtp/recommendations.h"
#include "relay/smtp/sasl.h"

namespace relay::smtp {

// SMTP AUTH on a listener: not offered (502), offered once TLS is on (before it: 538 5.7.11), or
// offered in plaintext too (a listener an operator trusts, such as loopback).
enum class AuthOffer { none, with_tls, always };

struct ServerSettings {
    std::string hostname = "localhost";
    std::uint32_t command_line_bytes_max = 512;  // including CRLF (RFC 5321 §4.5.3.1.4)
    std::uint32_t recipients_per_message_max = 1000;
    std::uint32_t errors_per_session_max = 10;
    std::uint32_t pending_input_bytes_max = 64 * 1024;
    // Replies one receive may produce; past this, the rest of the input is held (and the driver
    // stops reading) until resume_output: a client that pipelines and never reads cannot make
    // the server buffer replies without bound.
    std::uint32_t output_bytes_max = 64 * 1024;
    message::PassLimits pass;  // size, header, bare line endings, UTF-8
    // Past these the final 250 carries a note (recommendations.h); nothing is refused.
    Recommendations recommendations;
    AuthOffer auth = AuthOffer::none;
    bool auth_required = false;  // MAIL before a successful AUTH gets 530 5.7.0
    // EHLO advertises STARTTLS (until TLS is active) and STARTTLS is accepted.
    bool starttls = false;
};

// A reply chosen by policy for a sender or recipient (4xx or 5xx).
struct PolicyReply {
    int code = 550;
    std::string enhanced = "5.7.1";
    std::string text;
};

// A hook's answer: accept (the default, or std::nullopt), refuse with a reply, or later: the
// session waits until the hooks call ServerSession::decide, exactly once and never from inside
// the hook call itself.
class Verdict {
  public:
    Verdict() = default;
    Verdict(std::nullopt_t) {}                                      // NOLINT: implicit
    Verdict(PolicyReply refusal) : refusal_(std::move(refusal)) {}  // NOLINT: implicit
    static Verdict later() {
        Verdict verdict;
        verdict.later_ = true;
        return verdict;
    }
    bool is_later() const { return later_; }
    const std::optional<PolicyReply>& refusal() const { return refusal_; }

  private:
    std::optional<PolicyReply> refusal_;
    bool later_ = false;
};

// The envelope of the message in progress, kept by the session (copies, not views).
struct Transaction {
    std::string reverse_path;  // empty for "<>"
    std::vector<std::string> recipients;
    bool smtputf8 = false;
    BodyType body = BodyType::unspecified;
    std::optional<std::uint64_t> declared_size;
};

// What the session needs from the rest of relay.
class ServerHooks {
  public:
    // A message's data begins; the stored bytes go to the returned sink until the session calls
    // commit_message or abandon_message.
    virtual message::Sink& open_message(const Transaction& transaction) = 0;
    virtual message::BodyObserver* body_observer() { return nullptr; }
    // The data passed every check: make it durable, then call ServerSession::commit_done.
    virtual void commit_message(const Transaction& transaction,
                                const message::MessagePass& pass) = 0;
    // The data was refused or the transaction ended early: drop what the sink received.
    virtual void abandon_message() = 0;
    // The data was refused by the message pass (UTF-8, size, ...), or MAIL declared a SIZE over
    // the limit (then with an empty transaction): for the statistics.
    virtual void message_refused(const Transaction& transaction, message::Verdict verdict) {
        (void)transaction;
        (void)verdict;
    }
    // Policy seams (sender and recipient checks, limits); the default accepts.
    virtual Verdict check_sender(const Transaction& transaction) {
        (void)transaction;
        return {};
    }
    virtual Verdict check_recipient(const Transaction& transaction, std::string_view recipient) {
        (void)transaction;
        (void)recipient;
        return {};
    }
    // The data is about to start (DATA, or the first BDAT), the recipients are known: a refusal
    // ends the transaction before any data is taken as message (DATA gets the reply instead of
    // 354; BDAT's chunk is read and dropped, RFC 3030 §3). For decisions about the message as a
    // whole, such as a recipient on the stop list under the reject_message policy.
    virtual std::optional<PolicyReply> check_data(const Transaction& transaction) {
        (void)transaction;
        return std::nullopt;
    }
    // AUTH: the credentials are valid only during the call (the session wipes them after it); a
    // hook that answers later copies what it needs. Refusals are server_replies::auth_invalid
    // (535 5.7.8) or auth_unavailable_now (454 4.7.0). The default refuses: no store, no login.
    virtual Verdict check_login(const Credentials& credentials);

  protected:
    ~ServerHooks() = default;
};

class ServerSession {
  public:
    ServerSession(const ServerSettings& settings, ServerHooks& hooks);

    // Writes the greeting. `refusal` (e.g. too many connections) sends that 421 instead and
    // closes.
    void start();
    void refuse(std::string_view enhanced, std::string_view text);
    // The same with the reply's own code: 421 (try later) or 554 (never from here, §3.1).
    void refuse(const SyntaxReply& refusal);

    // Feeds received bytes (valid only during the call; may be modified in place).
    void receive(std::span<char> bytes);
    // The client closed its side.
    void end_of_input();
    // The idle timeout for the current phase expired.
    void timeout();
    // The transaction's total deadline passed, or its data arrives below the minimum rate: the
    // session closes (a message in DATA or BDAT is dropped).
    void transaction_timeout();
    void data_too_slow();
    // After the 220 to STARTTLS: the driver starts the TLS handshake; nothing is read meanwhile.
    bool wants_tls() const { return phase_ == Phase::tls; }
    // The handshake finished: after STARTTLS the session is back at the state after the
    // greeting (no EHLO, no transaction); on an implicit-TLS listener, call it before start().
    void tls_established();
    bool tls_active() const { return tls_active_; }
    // The driver's output drained below its bound: held input is processed.
    void resume_output();
    // The service is stopping: 421 at the next opportunity, unless a message is in DATA or
    // committing (it may finish first).
    void shutdown();

    // Answers the decision a hook deferred (Verdict::later): nullopt accepts, a reply refuses.
    void decide(const std::optional<PolicyReply>& refusal);
    // The username of the successful AUTH, empty before one.
    const std::string& authenticated_user() const { return authenticated_user_; }

    // The commit requested through ServerHooks::commit_message made the message durable.
    void commit_done(std::string_view queue_id);
    // While a message is being committed: the note its 250 will carry ("" if none), so that the
    // hooks can log it (recommendations.h).
    std::string recommendation_note() const;
    // The commit failed on relay's side. The client gets the catalogue's reply for the kind of
    // failure (never `error.message`, which may name files) and the incident id that the
    // caller's log line carries with the detail.
    void commit_failed(const Error& error, std::string_view incident);
    // The hooks refused the message after its data (a policy decision, or a test server that
    // answers like a real destination would).
    void commit_refused(const PolicyReply& refusal);

    // Reply bytes to send; the driver takes them (clears the string) after each call above.
    std::string& output() { return output_; }
    // Close once the output is sent.
    bool wants_close() const { return phase_ == Phase::closing; }
    // The driver should stop reading: a commit is pending and the held input is full, or
    // input is held until the output drains.
    bool wants_pause() const {
        return held_for_output_ || pending_.size() >= settings_.pending_input_bytes_max;
    }
    bool held_for_output() const { return held_for_output_; }
    // In DATA or BDAT: the driver uses the data timeout, else the command timeout.
    bool in_data() const { return phase_ == Phase::data || phase_ == Phase::bdat_chunk; }
    bool committing() const { return phase_ == Phase::waiting && waiting_for_ == Decision::commit; }
    // Waiting for any decision of the hooks (AUTH, MAIL, RCPT, the commit).
    bool waiting() const { return phase_ == Phase::waiting; }
    // Between an accepted MAIL and the end of the transaction (its commit included).
    bool in_transaction() const { return have_mail_ || committing(); }
    // Message bytes taken in the current DATA or BDAT transaction (as received, stuffed).
    std::uint64_t data_bytes() const { return data_bytes_; }
    // While message data is read: input bytes the message pass holds back (see
    // MessagePass::held_input_bytes); a driver receiving in place leaves room for them.
    std::size_t held_input_bytes() const { return in_data() ? pass_.held_input_bytes() : 0; }
    const std::string& helo() const { return helo_; }
    bool extended() const { return extended_; }
    std::uint64_t messages_accepted() const { return messages_accepted_; }
    // Grows with each command line handled and each piece of message data taken: the idle
    // timeout counts from the last progress, so trickling bytes into one endless (or
    // discarded, over-long) line does not keep a session alive.
    std::uint64_t progress() const { return progress_; }

  private:
    enum class Phase { greeting, command, data, bdat_chunk, waiting, tls, closing };
    enum class Decision { none, login, sender, recipient, commit };
    // Where an AUTH exchange stands between 334 challenges (RFC 4954 §4).
    enum class SaslStep { none, plain, login_username, login_password };

    void process(std::span<char> bytes);
    std::size_t take_command_line(std::span<char> bytes);
    void handle_line(std::string_view line);
    void handle(const Hello& command);
    void handle(const Mail& command);
    void handle(const Rcpt& command);
    void handle(const Data& command);
    void refuse_data(const SyntaxReply& refusal);
    void refuse_message(const PolicyReply& refusal);
    void handle(const Bdat& command);
    void handle(const Rset& command);
    void handle(const Noop& command);
    void handle(const Quit& command);
    void handle(const Vrfy& command);
    void handle(const Expn& command);
    void handle(const Help& command);
    void handle(const StartTls& command);
    void handle(const Auth& command);
    void handle(const Unknown& command);
    void handle_sasl_response(std::string_view line);
    void check_login(Credentials& credentials);
    void login_decided(const std::optional<PolicyReply>& refusal);
    void sender_decided(const std::optional<PolicyReply>& refusal);
    void recipient_decided(const std::optional<PolicyReply>& refusal);
    void wait_for(Decision decision);
    void end_waiting();
    bool auth_offered() const;
    void handle(const Invalid& command);

    std::size_t feed_data(std::span<char> bytes);
    std::size_t feed_bdat(std::span<char> bytes);
    void end_of_chunk();
    void finish_message();
    void after_message();
    void finish_commit(int code, std::string_view enhanced, std::string_view text);
    void resume_pending();
    void reset_transaction();
    void reply(int code, std::string_view enhanced, std::string_view text);
    void reply(const SyntaxReply& fixed);
    void error_reply(int code, std::string_view enhanced, std::string_view text);
    void error_reply(const SyntaxReply& fixed);
    void close_with(std::string_view enhanced, std::string_view text, int code = 421);
    void close_with(const SyntaxReply& fixed);

    const ServerSettings& settings_;
    ServerHooks& hooks_;
    message::MessagePass pass_;
    Phase phase_ = Phase::greeting;
    std::string output_;
    std::string line_;               // a command line split across receives
    bool discarding_line_ = false;   // inside an over-long line: skip to its LF
    bool input_after_line_ = false;  // more input was received after the line being handled
    std::string pending_;            // input received while a commit is pending
    std::string helo_;
    bool extended_ = false;
    bool tls_active_ = false;
    bool shutting_down_ = false;
    bool held_for_output_ = false;  // pending_ waits for resume_output
    std::uint64_t data_bytes_ = 0;
    bool input_ended_ = false;
    std::uint32_t errors_ = 0;
    std::uint64_t messages_accepted_ = 0;
    std::uint64_t progress_ = 0;

    std::string authenticated_user_;
    SaslStep sasl_step_ = SaslStep::none;
    std::string sasl_username_;    // LOGIN: between the two challenges (wiped after)
    std::string login_candidate_;  // the username whose credentials are being checked
    Decision waiting_for_ = Decision::none;
    std::string recipient_pending_;  // RCPT whose decision is awaited

    Transaction transaction_;
    std::unordered_set<std::string> recipient_set_;  // transaction_.recipients, for O(1) dedupe
    bool have_mail_ = false;
    bool message_open_ = false;  // the hooks' sink is receiving
    message::Sink* sink_ = nullptr;
    SyntaxReply bdat_refusal_{};
    bool bdat_refused_ = false;                // chunks are read and discarded (RFC 3030 §3)
    std::optional<PolicyReply> data_refusal_;  // check_data's, for a refused first BDAT
    bool bdat_started_ = false;
    bool bdat_last_ = false;
    std::uint64_t bdat_remaining_ = 0;
    std::uint64_t bdat_total_ = 0;
};

}  // namespace relay::smtp
