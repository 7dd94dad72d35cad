// client_session.cc -- the SMTP client state machine: greeting, EHLO/HELO, STARTTLS, AUTH, and
// transactions (MAIL, RCPT, DATA or BDAT), pipelined when the server allows it.
//
// Implements RFC 5321 §3.1-3.3, §4.1.1, §4.2, §4.5.2 (dot-stuffing); RFC 2920 §3.1 (the
// order of pipelined replies); RFC 3030 §2-4 (BDAT LAST, RSET after a failed chunk); RFC 3207
// §4-5 (discard plaintext after 220, forget capabilities after TLS); RFC 4954 §4 and RFC 4616
// (AUTH PLAIN with an initial response), AUTH LOGIN; RFC 6531 §3.2, RFC 6152, RFC 1870 (local
// refusals before any byte is sent).
//
// Untrusted bytes: every server reply (through ReplyReader, which bounds lines and replies). A
// reply the session does not expect ends the session, never the process. Runs on the worker
// that owns the connection; never blocks, never logs (the driver logs failure() once).
// Memory: at most recipients + 3 expected replies, the commands and the prefix in output(), and
// of the body at most one dot-stuffed piece (twice the piece): the body itself stays with the
// driver.
#include "relay/smtp/client_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "chars.h"
#include "relay/base/ascii.h"
#include "relay/base/assert.h"
#include "relay/smtp/sasl.h"

namespace relay::smtp {
namespace {

using internal::split_word;
using internal::trim_spaces;

constexpr std::size_t auth_mechanisms_max = 32;
constexpr std::size_t auth_mechanism_bytes_max = 20;  // RFC 4422 §3.1
constexpr std::size_t host_bytes_max = 255;           // RFC 5321 §4.5.3.1.2
constexpr std::size_t summary_bytes_max = 512;        // a reply quoted in failure()
constexpr std::size_t size_digits_max = 19;           // fits std::uint64_t

// Server text for a log line: printable ASCII only (a '?' for anything else), bounded.
std::string printable(std::string_view text, std::size_t bytes_max) {
    std::string out;
    const std::size_t length = std::min(text.size(), bytes_max);
    out.reserve(length);
    for (std::size_t index = 0; index < length; ++index) {
        const char c = text[index];
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return out;
}

Reply made_up(int code, std::string_view enhanced, std::string text) {
    return Reply{code, std::string(enhanced), std::move(text)};
}

bool is_sasl_mechanism(std::string_view name) {
    return !name.empty() && name.size() <= auth_mechanism_bytes_max &&
           std::all_of(name.begin(), name.end(),
                       [](char c) { return internal::is(c, internal::char_sasl); });
}

// "PLAIN LOGIN CRAM-MD5": upper-cased, deduplicated, bounded in count.
void add_auth_mechanisms(ServerCapabilities& capabilities, std::string_view list) {
    while (!list.empty() && capabilities.auth_mechanisms.size() < auth_mechanisms_max) {
        const auto [word, rest] = split_word(internal::skip_spaces(list));
        list = rest;
        if (!is_sasl_mechanism(word)) {
            continue;
        }
        std::string name(word);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](char c) { return c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c; });
        auto& known = capabilities.auth_mechanisms;
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            known.push_back(std::move(name));
        }
    }
}

// "SIZE 10240000": the limit, or none for "SIZE", "SIZE 0" and anything unreadable.
std::optional<std::uint64_t> parse_size_limit(std::string_view argument) {
    const std::string_view digits = split_word(argument).word;
    if (digits.empty() || digits.size() > size_digits_max ||
        !std::all_of(digits.begin(), digits.end(), internal::is_digit)) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (const char c : digits) {
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value > 0 ? std::optional<std::uint64_t>(value) : std::nullopt;
}

void parse_ehlo_line(ServerCapabilities& capabilities, std::string_view line) {
    const auto [keyword, argument] = split_word(trim_spaces(line));
    if (starts_with_ignoring_case(keyword, "auth=")) {
        // The pre-standard form some servers still send: "AUTH=PLAIN LOGIN".
        add_auth_mechanisms(capabilities, trim_spaces(line).substr(5));
    } else if (equal_ignoring_case(keyword, "auth")) {
        add_auth_mechanisms(capabilities, argument);
    } else if (equal_ignoring_case(keyword, "pipelining")) {
        capabilities.pipelining = true;
    } else if (equal_ignoring_case(keyword, "chunking")) {
        capabilities.chunking = true;
    } else if (equal_ignoring_case(keyword, "smtputf8")) {
        capabilities.smtputf8 = true;
    } else if (equal_ignoring_case(keyword, "8bitmime")) {
        capabilities.eight_bit_mime = true;
    } else if (equal_ignoring_case(keyword, "starttls")) {
        capabilities.starttls = true;
    } else if (equal_ignoring_case(keyword, "enhancedstatuscodes")) {
        capabilities.enhanced_status_codes = true;
    } else if (equal_ignoring_case(keyword, "size")) {
        capabilities.size = true;
        capabilities.size_max = parse_size_limit(argument);
    }
}

// RFC 5321 §4.1.1.1: the first line greets, each further line names one extension.
ServerCapabilities parse_ehlo(const Reply& reply) {
    ServerCapabilities capabilities;
    capabilities.extended = true;
    std::string_view text = reply.text;
    std::size_t newline = text.find('\n');
    while (newline != std::string_view::npos) {  // bounded by ReplyReader::lines_max
        text.remove_prefix(newline + 1);
        newline = text.find('\n');
        parse_ehlo_line(capabilities, text.substr(0, newline));
    }
    return capabilities;
}

bool ends_with_crlf(std::string_view text) {
    return text.size() >= 2 && text.substr(text.size() - 2) == "\r\n";
}

// Whether prefix + body (taken as one text) is non-empty and lacks a final CRLF. The prefix is
// empty or ends in CRLF (send() checks), so the body decides.
bool needs_final_crlf(const OutboundMessage& message) {
    return message.body_bytes > 0 && !message.body_ends_with_crlf;
}

// The octets the server receives as the message: SIZE= (RFC 1870) and the BDAT size.
std::uint64_t data_bytes(const OutboundMessage& message) {
    return message.prefix.size() + message.body_bytes + (needs_final_crlf(message) ? 2 : 0);
}

bool has_line_break(std::string_view text) {
    return text.find_first_of("\r\n") != std::string_view::npos;
}

}  // namespace

ClientSession::ClientSession(const ClientSettings& settings) : settings_(settings) {
    // Configuration, checked before it can become a command injection.
    RELAY_ASSERT(!has_line_break(settings_.helo_name));
    expected_.push_back(Expect::greeting);
}

Wait ClientSession::waiting_for() const {
    switch (state_) {
        case State::greeting:
            return Wait::greeting;
        case State::greeting_up:
        case State::tls_needed:
        case State::quitting:
            return Wait::command;
        case State::transaction:
            break;
        case State::ready:
        case State::closed:
        case State::failed:
            return Wait::nothing;
    }
    if (transaction_->body_due) {
        return Wait::data_block;
    }
    RELAY_ASSERT(!expected_.empty());
    switch (expected_.front()) {
        case Expect::data:
            return Wait::data_start;
        case Expect::data_end:
        case Expect::data_end_ignored:
        case Expect::bdat:
            return Wait::data_end;
        default:
            return Wait::command;
    }
}

void ClientSession::receive(std::string_view bytes) {
    received_any_ = received_any_ || !bytes.empty();
    // Each round consumes input or handles a reply; a reply that ends the session (or asks
    // for TLS) stops the loop, and the rest of the input is dropped.
    while (!bytes.empty()) {
        if (state_ != State::greeting && state_ != State::greeting_up && state_ != State::ready &&
            state_ != State::transaction && state_ != State::quitting) {
            return;
        }
        const std::size_t consumed = reader_.feed(bytes);
        bytes.remove_prefix(consumed);
        if (reader_.broken()) {
            fail_protocol(step_name(), reader_.broken_reason());
            return;
        }
        std::optional<Reply> reply = reader_.take();
        if (!reply) {
            RELAY_ASSERT(bytes.empty());
            return;
        }
        handle_reply(*reply);
    }
}

void ClientSession::handle_reply(const Reply& reply) {
    if (expected_.empty()) {
        // Idle (a server ending an idle session says 421), or a server that answers more
        // than it was asked.
        if (reply.code == 421) {
            fail_closed_by_server(reply);
        } else {
            fail_protocol(step_name(), "unexpected reply " + printable(reply.summary(), 64));
        }
        return;
    }
    const Expect expect = expected_.front();
    if (reply.code == 421 && expect != Expect::quit && expect != Expect::greeting) {
        fail_closed_by_server(reply);
        return;
    }
    expected_.pop_front();
    switch (expect) {
        case Expect::greeting:
        case Expect::ehlo:
        case Expect::helo:
        case Expect::starttls:
        case Expect::auth_plain:
        case Expect::auth_login_user:
        case Expect::auth_login_password:
        case Expect::auth_login_done:
            handle_greeting_up_reply(expect, reply);
            return;
        case Expect::quit:
            state_ = State::closed;
            expected_.clear();
            return;
        default:
            handle_transaction_reply(expect, reply);
            return;
    }
}

void ClientSession::handle_greeting_up_reply(Expect expect, const Reply& reply) {
    switch (expect) {
        case Expect::greeting:
            handle_greeting(reply);
            return;
        case Expect::ehlo:
            handle_ehlo(reply);
            return;
        case Expect::helo:
            handle_helo(reply);
            return;
        case Expect::starttls:
            handle_starttls(reply);
            return;
        default:
            handle_auth(expect, reply);
            return;
    }
}

void ClientSession::handle_transaction_reply(Expect expect, const Reply& reply) {
    RELAY_ASSERT(transaction_.has_value());
    switch (expect) {
        case Expect::mail:
            handle_mail(reply);
            return;
        case Expect::rcpt:
            handle_rcpt(reply);
            return;
        case Expect::data:
            handle_data(reply);
            return;
        case Expect::data_end:
        case Expect::data_end_ignored:
            handle_data_end(expect, reply);
            return;
        case Expect::bdat:
            handle_bdat(reply);
            return;
        case Expect::rset:
            handle_rset(reply);
            return;
        default:
            RELAY_ASSERT(false);
    }
}

void ClientSession::send_command(std::string_view command, Expect expect) {
    output_ += command;
    expected_.push_back(expect);
}

// ---- greeting, EHLO/HELO, STARTTLS, AUTH ---------------------------------------------------

void ClientSession::handle_greeting(const Reply& reply) {
    greeting_ = printable(reply.summary(), summary_bytes_max);
    const std::string_view text = reply.text;
    greeting_host_ = printable(split_word(text.substr(0, text.find('\n'))).word, host_bytes_max);
    if (reply.code / 100 == 2) {
        state_ = State::greeting_up;
        send_ehlo();
    } else if (reply.code / 100 == 3) {
        fail_protocol(step_name(Expect::greeting), "greeting " + greeting_);
    } else {
        // RFC 5321 §3.1: a server that refuses at the greeting still waits for QUIT (unless
        // it closes at once with 421).
        fail("greeting refused: " + greeting_, reply.permanent(), reply.code != 421);
    }
}

void ClientSession::send_ehlo() {
    send_command(fmt::format("EHLO {}\r\n", settings_.helo_name), Expect::ehlo);
}

void ClientSession::handle_ehlo(const Reply& reply) {
    if (reply.code / 100 == 2) {
        capabilities_ = parse_ehlo(reply);
        after_hello();
    } else if (reply.code / 100 == 3) {
        fail_protocol(step_name(Expect::ehlo), "EHLO answered " + printable(reply.summary(), 64));
    } else if (reply.permanent()) {
        // RFC 5321 §3.2: a server that does not know EHLO still knows HELO.
        send_command(fmt::format("HELO {}\r\n", settings_.helo_name), Expect::helo);
    } else {
        fail("EHLO refused: " + printable(reply.summary(), summary_bytes_max), false, true);
    }
}

void ClientSession::handle_helo(const Reply& reply) {
    if (reply.code / 100 == 2) {
        capabilities_ = ServerCapabilities{};
        after_hello();
    } else if (reply.code / 100 == 3) {
        fail_protocol(step_name(Expect::helo), "HELO answered " + printable(reply.summary(), 64));
    } else {
        fail("HELO refused: " + printable(reply.summary(), summary_bytes_max), reply.permanent(),
             true);
    }
}

void ClientSession::after_hello() {
    const bool want_tls = settings_.try_starttls || settings_.require_tls;
    if (!tls_active_ && capabilities_.starttls && want_tls) {
        send_command("STARTTLS\r\n", Expect::starttls);
        return;
    }
    if (!tls_active_ && settings_.require_tls) {
        fail("STARTTLS not offered by the server", false, true);
        return;
    }
    start_auth_or_ready();
}

void ClientSession::handle_starttls(const Reply& reply) {
    if (reply.code / 100 == 2 && !output_.empty()) {
        // STARTTLS itself is still in output(): this 220 came before the server could have
        // read the command, so it is not the answer to it (a plaintext injection).
        fail_protocol(step_name(Expect::starttls), "220 before STARTTLS was sent");
        return;
    }
    if (reply.code / 100 == 2) {
        // RFC 3207 §4.2: nothing learnt before TLS is kept; §5: any plaintext the server
        // sent after its 220 is dropped, not read as a reply to a later command.
        state_ = State::tls_needed;
        capabilities_ = ServerCapabilities{};
        reader_ = ReplyReader{};
        expected_.clear();
        return;
    }
    if (reply.code / 100 == 3) {
        fail_protocol(step_name(Expect::starttls),
                      "STARTTLS answered " + printable(reply.summary(), 64));
        return;
    }
    if (settings_.require_tls) {
        fail("STARTTLS refused: " + printable(reply.summary(), summary_bytes_max), false, true);
        return;
    }
    start_auth_or_ready();
}

void ClientSession::tls_established() {
    if (state_ == State::greeting && !received_any_ && !tls_active_) {
        tls_active_ = true;  // implicit TLS: the greeting comes over TLS
        return;
    }
    RELAY_ASSERT(state_ == State::tls_needed);
    tls_active_ = true;
    state_ = State::greeting_up;
    send_ehlo();
}

void ClientSession::tls_failed(std::string_view reason) {
    if (state_ == State::closed || state_ == State::failed) {
        return;
    }
    const std::string step(step_name());
    finish_pending(
        made_up(451, "4.4.2", fmt::format("TLS failure with {} after {}", host(), step)));
    fail(fmt::format("TLS failure with {} after {}: {}", host(), step,
                     printable(reason, summary_bytes_max)),
         false, false);
}

void ClientSession::start_auth_or_ready() {
    if (settings_.auth_username.empty()) {
        state_ = State::ready;
        return;
    }
    const auto& mechanisms = capabilities_.auth_mechanisms;
    auto offered = [&](std::string_view name) {
        return std::find(mechanisms.begin(), mechanisms.end(), name) != mechanisms.end();
    };
    if (offered("PLAIN")) {
        // RFC 4616 §2: authzid NUL authcid NUL passwd, here with an empty authzid.
        std::string message;
        message.push_back('\0');
        message += settings_.auth_username;
        message.push_back('\0');
        message += settings_.auth_password;
        send_command(fmt::format("AUTH PLAIN {}\r\n", encode_base64(message)), Expect::auth_plain);
    } else if (offered("LOGIN")) {
        send_command("AUTH LOGIN\r\n", Expect::auth_login_user);
    } else {
        fail("server offers no supported AUTH mechanism", false, true);
    }
}

void ClientSession::handle_auth(Expect expect, const Reply& reply) {
    const bool challenge_expected =
        expect == Expect::auth_login_user || expect == Expect::auth_login_password;
    const std::string_view mechanism = expect == Expect::auth_plain ? "PLAIN" : "LOGIN";
    if (reply.code == 334 && challenge_expected) {
        const std::string& answer =
            expect == Expect::auth_login_user ? settings_.auth_username : settings_.auth_password;
        const Expect next = expect == Expect::auth_login_user ? Expect::auth_login_password
                                                              : Expect::auth_login_done;
        send_command(encode_base64(answer) + "\r\n", next);
    } else if (reply.code / 100 == 2 && !challenge_expected) {
        state_ = State::ready;
    } else if (reply.code / 100 == 2 || reply.code / 100 == 3) {
        fail_protocol(step_name(expect), fmt::format("AUTH {} answered {}", mechanism,
                                                     printable(reply.summary(), 64)));
    } else {
        fail(fmt::format("AUTH {} refused: {}", mechanism,
                         printable(reply.summary(), summary_bytes_max)),
             reply.permanent(), true);
    }
}

// ---- transactions ---------------------------------------------------------------------------

std::optional<TransactionResult> ClientSession::local_refusal(
    const OutboundMessage& message) const {
    std::optional<Reply> refusal;
    const std::uint64_t size_bytes = data_bytes(message);
    if (message.smtputf8 && !capabilities_.smtputf8) {
        refusal =
            made_up(550, "5.6.7",
                    fmt::format("{} does not support SMTPUTF8, which this message needs", host()));
    } else if (message.eight_bit && !capabilities_.eight_bit_mime) {
        refusal = made_up(554, "5.6.3",
                          fmt::format("{} does not support 8BITMIME and this 8-bit message "
                                      "cannot be converted",
                                      host()));
    } else if (capabilities_.size_max && size_bytes > *capabilities_.size_max) {
        refusal = made_up(552, "5.3.4",
                          fmt::format("message of {} octets exceeds the limit of {} octets of {}",
                                      size_bytes, *capabilities_.size_max, host()));
    }
    if (!refusal) {
        return std::nullopt;
    }
    TransactionResult result;
    result.local = true;
    result.recipient_replies.assign(message.recipients.size(), *refusal);
    return result;
}

void ClientSession::send(const OutboundMessage& message) {
    RELAY_ASSERT(state_ == State::ready);
    RELAY_ASSERT(!message.recipients.empty());
    RELAY_ASSERT(expected_.empty());
    // Header fields the relay made itself; a prefix ending mid-line would merge into the body.
    RELAY_ASSERT(message.prefix.empty() || ends_with_crlf(message.prefix));
    result_.reset();
    if (auto refusal = local_refusal(message)) {
        result_ = std::move(refusal);
        return;
    }
    Transaction transaction;
    transaction.prefix = message.prefix;
    transaction.body_bytes = message.body_bytes;
    transaction.data_bytes = data_bytes(message);
    transaction.add_final_crlf = needs_final_crlf(message);
    transaction.data_end.add(message.prefix);
    std::string mail = fmt::format("MAIL FROM:<{}>", message.reverse_path);
    RELAY_ASSERT(!has_line_break(message.reverse_path));
    if (capabilities_.size) {
        mail += fmt::format(" SIZE={}", transaction.data_bytes);
    }
    mail += message.eight_bit ? " BODY=8BITMIME" : "";
    mail += message.smtputf8 ? " SMTPUTF8" : "";
    mail += "\r\n";
    transaction.commands.reserve(message.recipients.size() + 1);
    transaction.commands.push_back(std::move(mail));
    for (const std::string& recipient : message.recipients) {
        RELAY_ASSERT(!has_line_break(recipient));
        transaction.commands.push_back(fmt::format("RCPT TO:<{}>\r\n", recipient));
    }
    transaction.final_replies.resize(message.recipients.size());
    transaction.accepted.resize(message.recipients.size());
    transaction_ = std::move(transaction);
    state_ = State::transaction;
    if (!capabilities_.pipelining) {
        send_next_transaction_command();
        return;
    }
    // RFC 2920 §3.1: MAIL, every RCPT and DATA (or BDAT with its data) form one group.
    for (std::size_t index = 0; index < transaction_->commands.size(); ++index) {
        send_command(transaction_->commands[index], index == 0 ? Expect::mail : Expect::rcpt);
    }
    transaction_->commands_sent = transaction_->commands.size();
    send_data_command();
}

// Without PIPELINING: the next command once the previous one has been answered.
void ClientSession::send_next_transaction_command() {
    Transaction& transaction = *transaction_;
    if (transaction.commands_sent < transaction.commands.size()) {
        const std::size_t index = transaction.commands_sent++;
        send_command(transaction.commands[index], index == 0 ? Expect::mail : Expect::rcpt);
    } else if (transaction.accepted_count == 0) {
        finish_transaction();
    } else {
        send_data_command();
    }
}

void ClientSession::send_data_command() {
    if (!capabilities_.chunking) {
        send_command("DATA\r\n", Expect::data);
        return;
    }
    // RFC 3030 §2: one chunk, sent as is; the server must read it even if it refuses it, so
    // the body is due now, whatever the RCPT replies will be.
    Transaction& transaction = *transaction_;
    send_command(fmt::format("BDAT {} LAST\r\n", transaction.data_bytes), Expect::bdat);
    output_ += transaction.prefix;
    transaction.body_due = true;
}

// After the 354: the prefix, dot-stuffed; the body follows through body_piece().
void ClientSession::start_stuffed_data() {
    Transaction& transaction = *transaction_;
    output_ += transaction.stuffer.stuff(transaction.prefix);
    transaction.body_due = true;
}

bool ClientSession::body_due() const {
    return state_ == State::transaction && transaction_->body_due;
}

std::string_view ClientSession::body_piece(std::string_view piece) {
    RELAY_ASSERT(body_due());
    // The driver sends output() (commands, prefix) before any of the body.
    RELAY_ASSERT(output_.empty());
    Transaction& transaction = *transaction_;
    RELAY_ASSERT(piece.size() <= transaction.body_bytes - transaction.body_streamed_bytes);
    transaction.body_streamed_bytes += piece.size();
    transaction.data_end.add(piece);
    if (capabilities_.chunking) {
        return piece;
    }
    return transaction.stuffer.stuff(piece);
}

// The end of the data: RFC 5321 §4.1.1.4 (CRLF.CRLF), RFC 3030 §2 (the chunk's last octets).
void ClientSession::body_sent() {
    RELAY_ASSERT(body_due());
    Transaction& transaction = *transaction_;
    // The driver streamed the body it described: a BDAT size that does not match the octets
    // sent would make the server read commands as data.
    RELAY_ASSERT(transaction.body_streamed_bytes == transaction.body_bytes);
    RELAY_ASSERT(
        transaction.add_final_crlf ==
        (transaction.prefix.size() + transaction.body_bytes > 0 && !transaction.data_end.crlf));
    transaction.body_due = false;
    transaction.stuffer.release();
    output_ += transaction.add_final_crlf ? "\r\n" : "";
    if (!capabilities_.chunking) {
        send_command(".\r\n", Expect::data_end);
    }
}

void ClientSession::body_failed(const Reply& reply) {
    RELAY_ASSERT(body_due());
    RELAY_ASSERT(reply.code >= 400 && reply.code <= 599);
    const std::string what = fmt::format("the message data for {} could not be read: {}", host(),
                                         printable(reply.summary(), summary_bytes_max));
    std::vector<bool> open;
    if (transaction_) {
        for (const auto& final_reply : transaction_->final_replies) {
            open.push_back(!final_reply.has_value());
        }
    }
    finish_pending(reply);
    if (result_) {
        result_->relay_failed = std::move(open);
    }
    fail(what, false, false);
}

void ClientSession::DataEnd::add(std::string_view text) {
    if (text.empty()) {
        return;
    }
    crlf = text.size() >= 2 ? ends_with_crlf(text) : cr && text[0] == '\n';
    cr = text.back() == '\r';
}

void ClientSession::set_accepted_replies(const Reply& reply) {
    Transaction& transaction = *transaction_;
    for (std::size_t index = 0; index < transaction.accepted.size(); ++index) {
        if (transaction.accepted[index]) {
            transaction.final_replies[index] = reply;
        }
    }
}

void ClientSession::handle_mail(const Reply& reply) {
    Transaction& transaction = *transaction_;
    if (reply.code / 100 == 2) {
        transaction.mail_accepted = true;
        if (!capabilities_.pipelining) {
            send_next_transaction_command();
        }
        return;
    }
    if (reply.code / 100 == 3) {
        fail_protocol(step_name(Expect::mail),
                      "MAIL FROM answered " + printable(reply.summary(), 64));
        return;
    }
    // Every recipient shares the sender's fate; pipelined replies still to come are read and
    // ignored (RFC 2920 §3.1), and no transaction is open, so no RSET follows.
    transaction.mail_rejected = true;
    for (auto& final_reply : transaction.final_replies) {
        final_reply = reply;
    }
    if (expected_.empty()) {
        finish_transaction();
    }
}

void ClientSession::handle_rcpt(const Reply& reply) {
    Transaction& transaction = *transaction_;
    RELAY_ASSERT(transaction.rcpt_replies < transaction.accepted.size());
    const std::size_t index = transaction.rcpt_replies++;
    if (reply.code / 100 == 3) {
        fail_protocol(step_name(Expect::rcpt),
                      "RCPT TO answered " + printable(reply.summary(), 64));
        return;
    }
    if (!transaction.mail_rejected) {
        if (reply.code / 100 == 2) {
            transaction.accepted[index] = true;
            ++transaction.accepted_count;
        } else {
            transaction.final_replies[index] = reply;
        }
    }
    if (!capabilities_.pipelining) {
        send_next_transaction_command();
    }
}

void ClientSession::handle_data(const Reply& reply) {
    Transaction& transaction = *transaction_;
    if (reply.code == 354) {
        if (transaction.accepted_count == 0) {
            // RFC 2920 §3.1: the server should have refused DATA; end the empty message and
            // ignore what it says about it.
            send_command(".\r\n", Expect::data_end_ignored);
        } else {
            start_stuffed_data();
        }
        return;
    }
    if (reply.code / 100 != 4 && reply.code / 100 != 5) {
        fail_protocol(step_name(Expect::data), "DATA answered " + printable(reply.summary(), 64));
        return;
    }
    set_accepted_replies(reply);
    finish_transaction();
}

void ClientSession::handle_data_end(Expect expect, const Reply& reply) {
    if (reply.code / 100 == 3) {
        fail_protocol(step_name(expect), "end of data answered " + printable(reply.summary(), 64));
        return;
    }
    // RFC 5321 §4.1.1.4: whatever the reply, the transaction is over.
    transaction_->completed = true;
    if (expect == Expect::data_end) {
        set_accepted_replies(reply);
    }
    finish_transaction();
}

void ClientSession::handle_bdat(const Reply& reply) {
    if (transaction_->body_due) {
        // The server cannot have read a chunk that is not all sent: its reply is not to it.
        fail_protocol(step_name(Expect::bdat),
                      "BDAT answered before the data was sent: " + printable(reply.summary(), 64));
        return;
    }
    if (reply.code / 100 == 3) {
        fail_protocol(step_name(Expect::bdat), "BDAT answered " + printable(reply.summary(), 64));
        return;
    }
    // RFC 3030 §2: after a refused chunk the transaction stays open until RSET.
    transaction_->completed = reply.code / 100 == 2;
    set_accepted_replies(reply);
    finish_transaction();
}

void ClientSession::finish_transaction() {
    const Transaction& transaction = *transaction_;
    if (transaction.mail_accepted && !transaction.completed) {
        send_command("RSET\r\n", Expect::rset);
        return;
    }
    publish_result();
    state_ = State::ready;
}

void ClientSession::handle_rset(const Reply& reply) {
    publish_result();
    if (reply.code / 100 == 2) {
        state_ = State::ready;
        return;
    }
    fail("RSET refused: " + printable(reply.summary(), summary_bytes_max), false, true);
}

void ClientSession::publish_result() {
    RELAY_ASSERT(transaction_.has_value());
    TransactionResult result;
    result.recipient_replies.reserve(transaction_->final_replies.size());
    for (auto& final_reply : transaction_->final_replies) {
        RELAY_ASSERT(final_reply.has_value());
        result.recipient_replies.push_back(std::move(*final_reply));
    }
    result_ = std::move(result);
    transaction_.reset();
}

// Gives every recipient that has no final word yet `reply`, and publishes the result.
void ClientSession::finish_pending(const Reply& reply) {
    if (!transaction_) {
        return;
    }
    for (auto& final_reply : transaction_->final_replies) {
        if (!final_reply) {
            final_reply = reply;
        }
    }
    publish_result();
}

std::optional<TransactionResult> ClientSession::take_result() {
    std::optional<TransactionResult> result = std::move(result_);
    result_.reset();
    return result;
}

// ---- ending ---------------------------------------------------------------------------------

void ClientSession::quit() {
    switch (state_) {
        case State::ready:
            send_command("QUIT\r\n", Expect::quit);
            state_ = State::quitting;
            return;
        case State::transaction:
            finish_pending(made_up(
                451, "4.3.0",
                fmt::format("delivery stopped by relay with {} after {}", host(), step_name())));
            break;
        case State::greeting:
        case State::greeting_up:
        case State::tls_needed:
            break;
        case State::quitting:
        case State::closed:
        case State::failed:
            return;
    }
    state_ = State::closed;
    expected_.clear();
}

void ClientSession::connection_lost(std::string_view reason) {
    const std::string why = printable(reason, summary_bytes_max);
    switch (state_) {
        case State::closed:
        case State::failed:
            return;
        case State::ready:
        case State::quitting:
            state_ = State::closed;
            expected_.clear();
            return;
        case State::greeting:
            fail("connection lost before the greeting: " + why, false, false);
            return;
        default:
            break;
    }
    const std::string what = fmt::format("connection lost with {} after {}", host(), step_name());
    finish_pending(made_up(451, "4.4.2", what));
    fail(what + ": " + why, false, false);
}

void ClientSession::fail(std::string reason, bool permanent, bool polite) {
    state_ = State::failed;
    failure_ = std::move(reason);
    failure_permanent_ = permanent;
    expected_.clear();
    if (polite) {
        output_ += "QUIT\r\n";
    }
}

void ClientSession::fail_protocol(std::string_view step, std::string_view what) {
    const std::string where = fmt::format("protocol error with {} after {}", host(), step);
    finish_pending(made_up(451, "4.5.0", where));
    fail(where + ": " + printable(what, summary_bytes_max), false, false);
}

void ClientSession::fail_closed_by_server(const Reply& reply) {
    const std::string step(step_name());
    finish_pending(reply);
    fail(fmt::format("{} closed the session after {}: {}", host(), step,
                     printable(reply.summary(), summary_bytes_max)),
         false, false);
}

std::string_view ClientSession::step_name() const {
    if (state_ == State::tls_needed) {
        return "STARTTLS";
    }
    if (expected_.empty() && transaction_ && transaction_->body_due) {
        return "DATA";  // after the 354, sending the body
    }
    return expected_.empty() ? std::string_view("the last reply") : step_name(expected_.front());
}

std::string_view ClientSession::step_name(Expect step) {
    switch (step) {
        case Expect::greeting:
            return "connect";
        case Expect::ehlo:
            return "EHLO";
        case Expect::helo:
            return "HELO";
        case Expect::starttls:
            return "STARTTLS";
        case Expect::auth_plain:
        case Expect::auth_login_user:
        case Expect::auth_login_password:
        case Expect::auth_login_done:
            return "AUTH";
        case Expect::mail:
            return "MAIL FROM";
        case Expect::rcpt:
            return "RCPT TO";
        case Expect::data:
            return "DATA";
        case Expect::data_end:
        case Expect::data_end_ignored:
            return "end of data";
        case Expect::bdat:
            return "BDAT";
        case Expect::rset:
            return "RSET";
        case Expect::quit:
            return "QUIT";
    }
    return "?";
}

std::string_view ClientSession::host() const {
    return greeting_host_.empty() ? std::string_view("the server") : greeting_host_;
}

}  // namespace relay::smtp
