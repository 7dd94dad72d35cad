// server_session.cc -- command dispatch, DATA/BDAT phases and replies of one SMTP session.
#include "relay/smtp/server_session.h"

#include <algorithm>
#include <cstring>
#include <variant>

#include "relay/base/assert.h"
#include "relay/smtp/reply.h"
#include "relay/smtp/server_replies.h"

namespace relay::smtp {
namespace {

// An octet no SMTP command line holds: NUL and the other C0 controls but HT, CR and LF; DEL; and
// 8-bit octets, which only SMTPUTF8 addresses may carry, after EHLO.
bool has_binary_octet(std::span<const char> bytes) {
    return std::any_of(bytes.begin(), bytes.end(), [](char octet) {
        const auto value = static_cast<unsigned char>(octet);
        return value >= 0x7F || (value < 0x20 && octet != '\t' && octet != '\r' && octet != '\n');
    });
}

}  // namespace

ServerSession::ServerSession(const ServerSettings& settings, ServerHooks& hooks)
    : settings_(settings), hooks_(hooks), pass_(settings.pass) {}

void ServerSession::start() {
    RELAY_ASSERT(phase_ == Phase::greeting);
    phase_ = Phase::command;
    reply(220, {}, settings_.hostname + " ESMTP relay");
}

void ServerSession::refuse(std::string_view enhanced, std::string_view text) {
    close_with(enhanced, text);
}

void ServerSession::refuse(const SyntaxReply& refusal) {
    close_with(refusal.enhanced, refusal.text, refusal.code);
}

void ServerSession::reply(int code, std::string_view enhanced, std::string_view text) {
    append_reply(output_, code, enhanced, text);
}

void ServerSession::reply(const SyntaxReply& fixed) {
    reply(fixed.code, fixed.enhanced, fixed.text);
}

void ServerSession::error_reply(const SyntaxReply& fixed) {
    error_reply(fixed.code, fixed.enhanced, fixed.text);
}

void ServerSession::close_with(const SyntaxReply& fixed) {
    close_with(fixed.enhanced, fixed.text);
}

void ServerSession::error_reply(int code, std::string_view enhanced, std::string_view text) {
    reply(code, enhanced, text);
    if (++errors_ >= settings_.errors_per_session_max) {
        close_with(server_replies::too_many_errors);
    }
}

void ServerSession::close_with(std::string_view enhanced, std::string_view text, int code) {
    if (phase_ == Phase::closing) {
        return;
    }
    if (message_open_) {
        hooks_.abandon_message();
        message_open_ = false;
    }
    reply(code, enhanced, settings_.hostname + " " + std::string(text));
    phase_ = Phase::closing;
}

void ServerSession::receive(std::span<char> bytes) {
    if (phase_ == Phase::waiting || held_for_output_) {
        pending_.append(bytes.data(), bytes.size());
        return;
    }
    process(bytes);
}

void ServerSession::process(std::span<char> bytes) {
    while (!bytes.empty()) {
        std::size_t consumed = 0;
        switch (phase_) {
            case Phase::greeting:
            case Phase::closing:
            case Phase::tls:
                // Nothing more is read from a closing session. After STARTTLS, input sent
                // before the handshake is not protected by it: dropped (RFC 3207 §4.2,
                // CVE-2011-0411).
                return;
            case Phase::waiting:
                pending_.append(bytes.data(), bytes.size());
                return;
            case Phase::command:
                if (output_.size() >= settings_.output_bytes_max) {
                    // Hold the rest until the client has read its replies (resume_output).
                    held_for_output_ = true;
                    pending_.append(bytes.data(), bytes.size());
                    return;
                }
                consumed = take_command_line(bytes);
                break;
            case Phase::data:
                consumed = feed_data(bytes);
                break;
            case Phase::bdat_chunk:
                consumed = feed_bdat(bytes);
                break;
        }
        bytes = bytes.subspan(consumed);
    }
}

std::size_t ServerSession::take_command_line(std::span<char> bytes) {
    const char* newline = static_cast<const char*>(std::memchr(bytes.data(), '\n', bytes.size()));
    if (helo_.empty() &&
        has_binary_octet(bytes.first(newline == nullptr
                                         ? bytes.size()
                                         : static_cast<std::size_t>(newline - bytes.data())))) {
        // Decided on what has arrived, complete line or not: waiting for an LF that binary
        // input may never send would leave a partial line that swallows the next command.
        close_with(server_replies::binary_before_helo);
        return bytes.size();
    }
    if (newline == nullptr) {
        if (!discarding_line_) {
            if (line_.size() + bytes.size() >= settings_.command_line_bytes_max) {
                discarding_line_ = true;
                line_.clear();
            } else {
                line_.append(bytes.data(), bytes.size());
            }
        }
        return bytes.size();
    }
    std::size_t through_newline = static_cast<std::size_t>(newline - bytes.data()) + 1;
    if (discarding_line_ || line_.size() + through_newline > settings_.command_line_bytes_max) {
        discarding_line_ = false;
        line_.clear();
        error_reply(server_replies::line_too_long);
        return through_newline;
    }
    std::string_view line;
    if (line_.empty()) {
        line = std::string_view(bytes.data(), through_newline - 1);  // no copy: the usual case
    } else {
        line_.append(bytes.data(), through_newline - 1);
        line = line_;
    }
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    input_after_line_ = through_newline < bytes.size();
    handle_line(line);
    line_.clear();
    return through_newline;
}

void ServerSession::handle_line(std::string_view line) {
    ++progress_;
    if (sasl_step_ != SaslStep::none) {
        handle_sasl_response(line);  // a response to a 334 challenge, not a command
        return;
    }
    Command command = parse_command(line);
    std::visit([this](const auto& parsed) { handle(parsed); }, command);
}

void ServerSession::reset_transaction() {
    if (message_open_) {
        hooks_.abandon_message();
        message_open_ = false;
    }
    transaction_ = Transaction{};
    recipient_set_.clear();
    have_mail_ = false;
    data_bytes_ = 0;
    bdat_refused_ = false;
    data_refusal_.reset();
    bdat_started_ = false;
    bdat_last_ = false;
    bdat_remaining_ = 0;
    bdat_total_ = 0;
}

void ServerSession::handle(const Hello& command) {
    reset_transaction();
    helo_ = std::string(command.domain);
    extended_ = command.extended;
    if (!command.extended) {
        reply(250, {}, settings_.hostname);
        return;
    }
    append_reply(output_, 250, {}, settings_.hostname, true);
    append_reply(output_, 250, {}, "PIPELINING", true);
    if (auth_offered()) {
        append_reply(output_, 250, {}, "AUTH PLAIN LOGIN", true);
    }
    if (settings_.pass.message_bytes_max > 0) {
        append_reply(output_, 250, {}, "SIZE " + std::to_string(settings_.pass.message_bytes_max),
                     true);
    }
    append_reply(output_, 250, {}, "8BITMIME", true);
    append_reply(output_, 250, {}, "SMTPUTF8", true);
    append_reply(output_, 250, {}, "ENHANCEDSTATUSCODES", true);
    if (settings_.starttls && !tls_active_) {
        append_reply(output_, 250, {}, "STARTTLS", true);
    }
    append_reply(output_, 250, {}, "CHUNKING");
}

void ServerSession::handle(const Mail& command) {
    if (shutting_down_) {
        close_with(server_replies::shutting_down);
        return;
    }
    if (helo_.empty()) {
        error_reply(server_replies::need_helo);
        return;
    }
    if (have_mail_) {
        error_reply(server_replies::nested_mail);
        return;
    }
    if (settings_.auth_required && authenticated_user_.empty()) {
        error_reply(server_replies::auth_required);
        return;
    }
    const MailParameters& parameters = command.parameters;
    if (parameters.body == BodyType::binary_mime) {
        error_reply(server_replies::binarymime);
        return;
    }
    if (parameters.smtputf8 && !extended_) {
        error_reply(server_replies::smtputf8_needs_ehlo);
        return;
    }
    if (command.reverse_path.has_utf8 && !parameters.smtputf8) {
        error_reply(server_replies::address_needs_smtputf8);
        return;
    }
    if (parameters.size && settings_.pass.message_bytes_max > 0 &&
        *parameters.size > settings_.pass.message_bytes_max) {
        // No sender: its domain is not checked yet, so it names nothing worth counting under.
        hooks_.message_refused(Transaction{}, message::Verdict::too_large);
        reply(server_replies::message_too_large);
        return;
    }
    transaction_ = Transaction{};
    transaction_.reverse_path = std::string(command.reverse_path.mailbox);
    transaction_.smtputf8 = parameters.smtputf8;
    transaction_.body = parameters.body;
    transaction_.declared_size = parameters.size;
    Verdict verdict = hooks_.check_sender(transaction_);
    if (verdict.is_later()) {
        wait_for(Decision::sender);
        return;
    }
    sender_decided(verdict.refusal());
}

void ServerSession::sender_decided(const std::optional<PolicyReply>& refusal) {
    if (refusal) {
        transaction_ = Transaction{};
        reply(refusal->code, refusal->enhanced, refusal->text);
        return;
    }
    have_mail_ = true;
    reply(server_replies::sender_ok);
}

void ServerSession::handle(const Rcpt& command) {
    if (!have_mail_) {
        error_reply(server_replies::need_mail);
        return;
    }
    const Path& path = command.forward_path;
    if (path.has_utf8 && !transaction_.smtputf8) {
        error_reply(server_replies::address_needs_smtputf8);
        return;
    }
    if (transaction_.recipients.size() >= settings_.recipients_per_message_max) {
        reply(server_replies::too_many_recipients);
        return;
    }
    std::string recipient(path.mailbox);
    if (path.domain.empty()) {
        // RFC 5321 §4.5.1: "Postmaster" without a domain is this host's postmaster.
        recipient = "postmaster@" + settings_.hostname;
    }
    Verdict verdict = hooks_.check_recipient(transaction_, recipient);
    recipient_pending_ = std::move(recipient);
    if (verdict.is_later()) {
        wait_for(Decision::recipient);
        return;
    }
    recipient_decided(verdict.refusal());
}

void ServerSession::recipient_decided(const std::optional<PolicyReply>& refusal) {
    std::string recipient = std::move(recipient_pending_);
    recipient_pending_.clear();
    if (refusal) {
        reply(refusal->code, refusal->enhanced, refusal->text);
        return;
    }
    // A repeated recipient is accepted once (a set: a long list stays linear, not quadratic).
    if (recipient_set_.insert(recipient).second) {
        transaction_.recipients.push_back(std::move(recipient));
    }
    reply(server_replies::recipient_ok);
}

void ServerSession::handle(const Data&) {
    if (!have_mail_) {
        refuse_data(server_replies::need_mail);
        return;
    }
    if (bdat_started_) {
        refuse_data(server_replies::data_after_bdat);
        return;
    }
    if (transaction_.recipients.empty()) {
        refuse_data(server_replies::no_recipients);
        return;
    }
    if (std::optional<PolicyReply> refusal = hooks_.check_data(transaction_)) {
        refuse_message(*refusal);
        return;
    }
    sink_ = &hooks_.open_message(transaction_);
    message_open_ = true;
    pass_.start(true);
    phase_ = Phase::data;
    reply(server_replies::start_data);
}

// RFC 2920 §3.1: DATA ends a pipelined group; a client waits for its reply before it sends the
// message. Input already received after a refused DATA is therefore message text, and read as
// commands it could start a transaction of its own (a sender named in the body). Such a client
// gets the refusal and is closed (Postfix's smtpd_forbid_unauth_pipelining disconnects such
// clients too).
void ServerSession::refuse_data(const SyntaxReply& refusal) {
    error_reply(refusal);
    if (input_after_line_) {
        close_with(server_replies::data_refused_pipelined);
    }
}

// A policy refusal of the whole message at DATA: the transaction ends (the client starts again
// with MAIL); a refusal, not a client error, so it does not count against the session. Input
// pipelined after DATA is message text, as above.
void ServerSession::refuse_message(const PolicyReply& refusal) {
    reset_transaction();
    reply(refusal.code, refusal.enhanced, refusal.text);
    if (input_after_line_) {
        close_with(server_replies::data_refused_pipelined);
    }
}

std::size_t ServerSession::feed_data(std::span<char> bytes) {
    ++progress_;
    message::MessagePass::Fed fed = pass_.feed_dot_stuffed(bytes, *sink_, hooks_.body_observer());
    data_bytes_ += fed.consumed;
    if (fed.finished) {
        finish_message();
    }
    return fed.consumed;
}

void ServerSession::handle(const Bdat& command) {
    bdat_remaining_ = command.size;
    bdat_last_ = command.last;
    bdat_refused_ = false;
    phase_ = Phase::bdat_chunk;
    // RFC 3030 §3: a refused chunk is still read, so the session stays in step with the client.
    if (!have_mail_) {
        bdat_refused_ = true;
        bdat_refusal_ = server_replies::need_mail;
    } else if (transaction_.recipients.empty()) {
        bdat_refused_ = true;
        bdat_refusal_ = server_replies::no_recipients;
    } else if (settings_.pass.message_bytes_max > 0 &&
               bdat_total_ + command.size > settings_.pass.message_bytes_max) {
        bdat_refused_ = true;
        bdat_refusal_ = server_replies::message_too_large;
    } else if (!bdat_started_ && (data_refusal_ = hooks_.check_data(transaction_))) {
        bdat_refused_ = true;
    } else if (!bdat_started_) {
        bdat_started_ = true;
        sink_ = &hooks_.open_message(transaction_);
        message_open_ = true;
        pass_.start(false);
    }
    bdat_total_ += command.size;
    if (bdat_remaining_ == 0) {
        end_of_chunk();
    }
}

std::size_t ServerSession::feed_bdat(std::span<char> bytes) {
    ++progress_;
    std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(bdat_remaining_, bytes.size()));
    if (!bdat_refused_) {
        pass_.feed_chunk(bytes.first(take), *sink_, hooks_.body_observer());
    }
    bdat_remaining_ -= take;
    data_bytes_ += take;
    if (bdat_remaining_ == 0) {
        end_of_chunk();
    }
    return take;
}

void ServerSession::end_of_chunk() {
    phase_ = Phase::command;
    if (bdat_refused_ && data_refusal_) {
        PolicyReply refusal = std::move(*data_refusal_);
        reset_transaction();
        reply(refusal.code, refusal.enhanced, refusal.text);
        return;
    }
    if (bdat_refused_) {
        SyntaxReply refusal = bdat_refusal_;
        reset_transaction();
        if (refusal.code == 503) {
            error_reply(refusal);  // a sequence error counts against the session
        } else {
            reply(refusal);
        }
        return;
    }
    if (bdat_last_) {
        pass_.finish_chunks(*sink_, hooks_.body_observer());
        finish_message();
        return;
    }
    reply(250, "2.0.0", "Ok: " + std::to_string(bdat_total_) + " octets received");
}

void ServerSession::finish_message() {
    const message::Outcome& outcome = pass_.outcome();
    if (outcome.verdict != message::Verdict::accepted) {
        hooks_.message_refused(transaction_, outcome.verdict);
    }
    switch (outcome.verdict) {
        case message::Verdict::accepted:
            wait_for(Decision::commit);
            hooks_.commit_message(transaction_, pass_);
            return;
        case message::Verdict::bare_line_ending:
            reply(server_replies::bare_line_ending);
            break;
        case message::Verdict::invalid_utf8:
            if (outcome.where.empty()) {
                reply(server_replies::invalid_utf8);
            } else {
                reply(server_replies::invalid_utf8_where.code,
                      server_replies::invalid_utf8_where.enhanced,
                      server_replies::with_placeholders(server_replies::invalid_utf8_where,
                                                        {{"<where>", outcome.where}}));
            }
            break;
        case message::Verdict::charset:
            reply(server_replies::charset_refused.code, server_replies::charset_refused.enhanced,
                  server_replies::with_placeholders(
                      server_replies::charset_refused,
                      {{"<charset>", outcome.charset}, {"<where>", outcome.where}}));
            break;
        case message::Verdict::mime_too_deep:
            reply(server_replies::mime_too_deep.code, server_replies::mime_too_deep.enhanced,
                  server_replies::with_placeholders(
                      server_replies::mime_too_deep,
                      {{"<max>", std::to_string(settings_.pass.mime_depth_max)},
                       {"<where>", outcome.where}}));
            break;
        case message::Verdict::mime_boundary_too_long:
            reply(server_replies::mime_boundary_too_long.code,
                  server_replies::mime_boundary_too_long.enhanced,
                  server_replies::with_placeholders(
                      server_replies::mime_boundary_too_long,
                      {{"<max>", std::to_string(message::kBoundaryBytesMax)},
                       {"<where>", outcome.where}}));
            break;
        case message::Verdict::too_large:
            reply(server_replies::message_too_large);
            break;
        case message::Verdict::header_too_large:
            reply(server_replies::header_too_large);
            break;
        case message::Verdict::nul_octet:
            reply(server_replies::nul_octet);
            break;
        case message::Verdict::line_too_long:
            reply(server_replies::message_line_too_long.code,
                  server_replies::message_line_too_long.enhanced,
                  server_replies::message_line_too_long_text(outcome.long_line_number,
                                                             settings_.pass.line_bytes_max));
            break;
    }
    reset_transaction();
    phase_ = Phase::command;
    after_message();
}

std::string ServerSession::recommendation_note() const {
    return smtp::recommendation_note(transaction_.recipients.size(), pass_.outcome().stored_bytes,
                                     settings_.recommendations);
}

void ServerSession::commit_done(std::string_view queue_id) {
    ++messages_accepted_;
    std::string text = "Ok: queued as " + std::string(queue_id);
    const std::string note = recommendation_note();
    if (!note.empty()) {
        text += "; " + note;
    }
    finish_commit(250, "2.0.0", text);
}

void ServerSession::commit_failed(const Error& error, std::string_view incident) {
    // Whatever failed, the message is fine and the client should try again later: a 4xx. Only
    // a full disk (or memory) is worth telling apart (RFC 3463's X.3.1, "mail system full").
    const SyntaxReply& reply = error.code == ErrorCode::resource_exhausted
                                   ? server_replies::not_queued_no_room
                                   : server_replies::not_queued;
    finish_commit(reply.code, reply.enhanced,
                  std::string(reply.text) + " (incident " + std::string(incident) + ")");
}

void ServerSession::commit_refused(const PolicyReply& refusal) {
    finish_commit(refusal.code, refusal.enhanced, refusal.text);
}

void ServerSession::finish_commit(int code, std::string_view enhanced, std::string_view text) {
    RELAY_ASSERT(committing());
    message_open_ = false;  // the hooks own the outcome now
    waiting_for_ = Decision::none;
    phase_ = Phase::command;
    reply(code, enhanced, text);
    reset_transaction();
    after_message();
    end_waiting();
}

void ServerSession::wait_for(Decision decision) {
    RELAY_ASSERT(phase_ != Phase::waiting && phase_ != Phase::closing &&
                 waiting_for_ == Decision::none);
    phase_ = Phase::waiting;
    waiting_for_ = decision;
}

// After a decision: the input held meanwhile runs, unless the client has gone (its replies
// have nowhere to go) or a reply closed the session.
void ServerSession::end_waiting() {
    if (phase_ == Phase::closing) {
        return;
    }
    if (input_ended_) {
        phase_ = Phase::closing;
        return;
    }
    resume_pending();
}

void ServerSession::decide(const std::optional<PolicyReply>& refusal) {
    RELAY_ASSERT(phase_ == Phase::waiting && waiting_for_ != Decision::commit &&
                 waiting_for_ != Decision::none);
    Decision decided = waiting_for_;
    waiting_for_ = Decision::none;
    phase_ = Phase::command;
    switch (decided) {
        case Decision::login:
            login_decided(refusal);
            break;
        case Decision::sender:
            sender_decided(refusal);
            break;
        case Decision::recipient:
            recipient_decided(refusal);
            break;
        case Decision::commit:
        case Decision::none:
            break;
    }
    if (shutting_down_) {
        close_with(server_replies::shutting_down);
    }
    end_waiting();
}

void ServerSession::resume_output() {
    if (!held_for_output_) {
        return;
    }
    held_for_output_ = false;
    resume_pending();
}

void ServerSession::resume_pending() {
    if (phase_ == Phase::command && !held_for_output_ && !pending_.empty()) {
        std::string held;
        held.swap(pending_);
        process(std::span<char>(held.data(), held.size()));
    }
}

void ServerSession::after_message() {
    if (shutting_down_) {
        close_with(server_replies::shutting_down);
    }
}

void ServerSession::handle(const Rset&) {
    reset_transaction();
    reply(server_replies::ok);
}

void ServerSession::handle(const Noop&) {
    reply(server_replies::ok);
}

void ServerSession::handle(const Quit&) {
    reset_transaction();
    reply(server_replies::bye);
    phase_ = Phase::closing;
}

void ServerSession::handle(const Vrfy&) {
    reply(server_replies::vrfy);
}

void ServerSession::handle(const Expn&) {
    error_reply(server_replies::expn_unavailable);
}

void ServerSession::handle(const Help&) {
    reply(server_replies::help);
}

void ServerSession::handle(const StartTls&) {
    if (!settings_.starttls) {
        error_reply(server_replies::starttls_unavailable);
        return;
    }
    if (tls_active_) {
        error_reply(server_replies::tls_already_active);
        return;
    }
    if (helo_.empty()) {
        error_reply(server_replies::need_helo);
        return;
    }
    reset_transaction();
    reply(server_replies::starttls_ready);
    phase_ = Phase::tls;
    // Whatever else has arrived, in this receive or held from earlier ones, is plaintext the
    // handshake does not cover.
    pending_.clear();
    held_for_output_ = false;
}

void ServerSession::tls_established() {
    tls_active_ = true;
    if (phase_ != Phase::tls) {
        // Implicit TLS (before the greeting), or the session closed during the handshake.
        RELAY_ASSERT(phase_ == Phase::greeting || phase_ == Phase::closing);
        return;
    }
    // RFC 3207 §4.2: discard any knowledge obtained from the client before the handshake, a
    // login made in plaintext included.
    reset_transaction();
    helo_.clear();
    extended_ = false;
    authenticated_user_.clear();
    sasl_step_ = SaslStep::none;
    wipe(sasl_username_);
    line_.clear();
    discarding_line_ = false;
    phase_ = Phase::command;
}

bool ServerSession::auth_offered() const {
    return settings_.auth == AuthOffer::always ||
           (settings_.auth == AuthOffer::with_tls && tls_active_);
}

void ServerSession::handle(const Auth& command) {
    if (settings_.auth == AuthOffer::none) {
        error_reply(server_replies::auth_unavailable);
        return;
    }
    if (helo_.empty()) {
        error_reply(server_replies::need_helo);
        return;
    }
    if (!authenticated_user_.empty()) {
        error_reply(server_replies::auth_twice);
        return;
    }
    if (have_mail_) {
        error_reply(server_replies::auth_in_transaction);
        return;
    }
    if (!auth_offered()) {
        error_reply(server_replies::auth_needs_tls);
        return;
    }
    std::string mechanism(command.mechanism);
    std::transform(mechanism.begin(), mechanism.end(), mechanism.begin(),
                   [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
    if (mechanism != "PLAIN" && mechanism != "LOGIN") {
        error_reply(server_replies::auth_mechanism);
        return;
    }
    // RFC 4954 §4: "=" is an initial response of zero length; no initial response at all
    // means the server sends the first (empty for PLAIN) challenge.
    const bool plain = mechanism == "PLAIN";
    if (command.initial_response.empty()) {
        sasl_step_ = plain ? SaslStep::plain : SaslStep::login_username;
        // RFC 4954 §4: continue-req = "334" SP [base64] CRLF; the space stays when it is empty.
        output_ += plain ? "334 \r\n" : "334 VXNlcm5hbWU6\r\n";  // "Username:"
        return;
    }
    sasl_step_ = plain ? SaslStep::plain : SaslStep::login_username;
    handle_sasl_response(command.initial_response == "=" ? std::string_view()
                                                         : command.initial_response);
}

void ServerSession::handle_sasl_response(std::string_view line) {
    const SaslStep step = sasl_step_;
    sasl_step_ = SaslStep::none;
    if (line == "*") {
        wipe(sasl_username_);
        error_reply(server_replies::auth_cancelled);
        return;
    }
    std::optional<std::string> decoded = decode_base64(line);
    if (!decoded) {
        wipe(sasl_username_);
        error_reply(server_replies::auth_bad_base64);
        return;
    }
    switch (step) {
        case SaslStep::plain: {
            PlainResult parsed = parse_plain(*decoded);
            wipe(*decoded);
            if (!parsed.credentials) {
                error_reply(parsed.error == PlainError::authorization_identity
                                ? server_replies::auth_invalid
                                : server_replies::auth_bad_plain);
                return;
            }
            check_login(*parsed.credentials);
            return;
        }
        case SaslStep::login_username:
            sasl_username_ = std::move(*decoded);
            sasl_step_ = SaslStep::login_password;
            reply(334, {}, "UGFzc3dvcmQ6");  // base64 of "Password:"
            return;
        case SaslStep::login_password: {
            Credentials credentials{std::move(sasl_username_), std::move(*decoded)};
            sasl_username_.clear();
            if (credentials.username.empty() || credentials.password.empty()) {
                wipe(credentials);
                error_reply(server_replies::auth_invalid);
                return;
            }
            check_login(credentials);
            return;
        }
        case SaslStep::none:
            break;
    }
}

void ServerSession::check_login(Credentials& credentials) {
    Verdict verdict = hooks_.check_login(credentials);
    login_candidate_ = std::move(credentials.username);
    wipe(credentials);
    if (verdict.is_later()) {
        wait_for(Decision::login);
        return;
    }
    login_decided(verdict.refusal());
}

void ServerSession::login_decided(const std::optional<PolicyReply>& refusal) {
    std::string username = std::move(login_candidate_);
    login_candidate_.clear();
    if (refusal) {
        // A wrong password counts against the session: guessing ends at errors_per_session_max.
        error_reply(refusal->code, refusal->enhanced, refusal->text);
        return;
    }
    authenticated_user_ = std::move(username);
    reply(server_replies::auth_success);
}

Verdict ServerHooks::check_login(const Credentials& credentials) {
    (void)credentials;
    return PolicyReply{server_replies::auth_invalid.code,
                       std::string(server_replies::auth_invalid.enhanced),
                       std::string(server_replies::auth_invalid.text)};
}

void ServerSession::handle(const Unknown&) {
    error_reply(parser_replies::unknown_command);
}

void ServerSession::handle(const Invalid& command) {
    error_reply(command.reply.code, command.reply.enhanced, command.reply.text);
}

void ServerSession::end_of_input() {
    input_ended_ = true;
    if (phase_ == Phase::waiting) {
        return;  // the decision (a commit, a login) is made first; its reply has nowhere to go
    }
    if (message_open_) {
        hooks_.abandon_message();
        message_open_ = false;
    }
    phase_ = Phase::closing;
}

void ServerSession::timeout() {
    if (phase_ == Phase::waiting || phase_ == Phase::closing) {
        return;
    }
    close_with(server_replies::timeout);
}

void ServerSession::transaction_timeout() {
    if (phase_ == Phase::waiting || phase_ == Phase::closing) {
        return;  // the message is complete: its commit decides
    }
    close_with(server_replies::transaction_too_long);
}

void ServerSession::data_too_slow() {
    if (phase_ == Phase::waiting || phase_ == Phase::closing) {
        return;
    }
    close_with(server_replies::data_too_slow);
}

void ServerSession::shutdown() {
    shutting_down_ = true;
    if (phase_ == Phase::command || phase_ == Phase::greeting || phase_ == Phase::tls) {
        close_with(server_replies::shutting_down);
    }
    // In DATA, BDAT or a commit: the message may finish; after_message closes then. Waiting for
    // another decision: decide closes once it is answered.
}

}  // namespace relay::smtp
