// session.cc -- loadgen's SMTP client state machine (see session.h for the protocol walk).
//
// Untrusted bytes: the server's replies. Thread: the owning worker. Must never: block, parse a
// reply while output is in flight, or start a message after Shared::claim said no.
#include "session.h"

#include <fmt/format.h>

#include <cstring>

#include "relay/base/assert.h"

namespace loadgen {
namespace {

constexpr std::string_view data_end_line = ".\r\n";
constexpr std::string_view data_end_and_quit = ".\r\nQUIT\r\n";
constexpr std::string_view quit_line = "QUIT\r\n";
constexpr std::size_t reply_rounds_max = recipients_max + 16;

std::int64_t milliseconds_ns(std::uint32_t ms) {
    return static_cast<std::int64_t>(ms) * 1000000;
}

bool positive(int code) {
    return code >= 200 && code < 300;
}
bool negative(int code) {
    return code >= 400 && code < 600;
}

// RFC 4648 section 4, for AUTH PLAIN's initial response.
std::string encode_base64(std::string_view bytes) {
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t group = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]))
                              << 16;
        const std::size_t present = bytes.size() - i < 3 ? bytes.size() - i : 3;
        if (present > 1) {
            group |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        }
        if (present > 2) {
            group |= static_cast<unsigned char>(bytes[i + 2]);
        }
        for (std::size_t j = 0; j < 4; ++j) {
            out += j <= present ? alphabet[(group >> (18 - 6 * j)) & 0x3f] : '=';
        }
    }
    return out;
}

}  // namespace

Shared::Shared(const Options& options_in, const MessageFactory& messages_in)
    : options(options_in), messages(messages_in) {
    for (const std::string& to : options.to) {
        rcpt_lines.push_back(fmt::format("RCPT TO:<{}>\r\n", to));
    }
    if (!options.auth_user.empty()) {
        // RFC 4616: authorization identity (empty: the same), NUL, user, NUL, password.
        std::string message = '\0' + options.auth_user + '\0' + options.auth_password;
        auth_line = "AUTH PLAIN " + encode_base64(message) + "\r\n";
    }
}

bool Shared::claim(std::int64_t now_ns, std::uint64_t& index) {
    if (stop.load(std::memory_order_relaxed)) {
        return false;
    }
    if (end_ns > 0) {
        if (now_ns >= end_ns) {
            return false;
        }
        index = next_index.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    index = next_index.fetch_add(1, std::memory_order_relaxed);
    return index < options.messages;
}

bool Shared::has_work(std::int64_t now_ns) const {
    if (stop.load(std::memory_order_relaxed)) {
        return false;
    }
    if (end_ns > 0) {
        return now_ns < end_ns;
    }
    return next_index.load(std::memory_order_relaxed) < options.messages;
}

Session::Session(Shared& shared, WorkerContext& context)
    : shared_(shared), context_(context), options_(shared.options) {
    commands_.reserve(1024);
}

// ---- events -------------------------------------------------------------------------------

void Session::start_connection(std::int64_t now_ns) {
    RELAY_ASSERT(io.fd >= 0 && io.ops_in_flight == 0);
    connected_ = false;
    ready_ = false;
    quit_sent_ = false;
    quit_acknowledged_ = false;
    end_of_stream_ = false;
    close_ = CloseKind::none;
    pipelining_ = false;
    bdat_ = false;
    messages_on_connection_ = 0;
    need_rset_ = false;
    in_transaction_ = false;
    expects_head_ = 0;
    expects_count_ = 0;
    output_pending_ = false;
    input_begin_ = 0;
    input_end_ = 0;
    tls_.reset();
    cipher_begin_ = 0;
    cipher_end_ = 0;
    connect_started_ns_ = now_ns;
    deadline_ns_ = now_ns + milliseconds_ns(options_.timeout_ms);
}

void Session::on_connect_failed(std::int64_t now_ns) {
    ++context_.stats.connect_errors;
    note_refusal(now_ns);
    close_with(CloseKind::error);
}

void Session::on_connected(std::int64_t now_ns) {
    connected_ = true;
    deadline_ns_ = now_ns + milliseconds_ns(options_.timeout_ms);
    expect(Expect::greeting);
}

void Session::on_received(std::size_t bytes, std::int64_t now_ns) {
    if (tls_) {
        RELAY_ASSERT(cipher_end_ + bytes <= cipher_input_.size() && !receiving_);
        cipher_end_ += bytes;
        if (!output_pending_) {
            pump_tls(now_ns);
        }
        return;
    }
    RELAY_ASSERT(input_end_ + bytes <= input_.size() && !receiving_);
    input_end_ += bytes;
    if (!output_pending_) {
        process_replies(now_ns);
    }
}

void Session::on_sent(std::size_t bytes, std::int64_t now_ns) {
    RELAY_ASSERT(output_pending_);
    if (tls_) {
        on_tls_sent(bytes, now_ns);
        return;
    }
    advance_output(bytes);
    if (iov_sent_ < iov_count_) {
        return;  // a short send: the worker sends the rest
    }
    output_pending_ = false;
    process_replies(now_ns);
}

void Session::on_lost(Loss loss, std::int64_t now_ns) {
    if (close_ != CloseKind::none) {
        return;
    }
    if (loss != Loss::timeout && loss != Loss::aborted) {
        // Read the replies that arrived before the end (a server may refuse a message and close
        // while it is still being sent), but start nothing new: the output is dead too.
        end_of_stream_ = true;
        output_pending_ = false;
        process_replies(now_ns);
        if (close_ != CloseKind::none) {
            return;
        }
    }
    if ((loss == Loss::end_of_stream && quit_sent_ && !in_transaction_) || quit_acknowledged_) {
        close_with(CloseKind::normal);  // the server closed after our QUIT, as it should
        return;
    }
    if (loss == Loss::timeout) {
        ++context_.stats.timeouts;
    } else if (loss != Loss::aborted) {
        ++context_.stats.dropped;
    }
    if (in_transaction_) {
        ++context_.stats.attempted;
        ++context_.stats.lost;
        in_transaction_ = false;
    }
    if (!ready_ && loss != Loss::aborted) {
        note_refusal(now_ns);
    }
    close_with(CloseKind::error);
}

void Session::on_closed() {
    connected_ = false;
    receiving_ = false;
    output_pending_ = false;
    deadline_ns_ = 0;
}

std::span<char> Session::receive_space() {
    if (tls_) {
        if (cipher_begin_ == cipher_end_) {
            cipher_begin_ = 0;
            cipher_end_ = 0;
        } else if (cipher_begin_ > 0) {
            std::memmove(cipher_input_.data(), cipher_input_.data() + cipher_begin_,
                         cipher_end_ - cipher_begin_);
            cipher_end_ -= cipher_begin_;
            cipher_begin_ = 0;
        }
        receiving_ = cipher_end_ < cipher_input_.size();
        return {cipher_input_.data() + cipher_end_, cipher_input_.size() - cipher_end_};
    }
    compact_input();
    receiving_ = input_end_ < input_.size();
    return {input_.data() + input_end_, input_.size() - input_end_};
}

msghdr* Session::send_message() {
    msg_ = {};
    if (tls_) {
        std::span<const std::byte> ciphertext = tls_->output();
        RELAY_ASSERT(output_pending_ && !ciphertext.empty());
        tls_iov_ = {const_cast<std::byte*>(ciphertext.data()), ciphertext.size()};
        msg_.msg_iov = &tls_iov_;
        msg_.msg_iovlen = 1;
        return &msg_;
    }
    RELAY_ASSERT(output_pending_ && iov_sent_ < iov_count_);
    msg_.msg_iov = iov_.data() + iov_sent_;
    msg_.msg_iovlen = iov_count_ - iov_sent_;
    return &msg_;
}

// ---- replies ------------------------------------------------------------------------------

void Session::process_replies(std::int64_t now_ns) {
    for (std::size_t round = 0; round < reply_rounds_max; ++round) {
        if (close_ != CloseKind::none || output_pending_ || input_begin_ == input_end_) {
            break;
        }
        std::string_view input(input_.data() + input_begin_, input_end_ - input_begin_);
        ParsedReply reply = parse_reply(input);
        if (expects_count_ == 0) {
            if (reply.status == ReplyStatus::incomplete) {
                break;
            }
            if (reply.status == ReplyStatus::complete && reply.code == 421) {
                ++context_.stats.closed_by_server;  // shutting down between our commands
                close_with(CloseKind::server_closing);
            } else {
                protocol_error(now_ns);  // a reply to nothing we sent
            }
            break;
        }
        if (reply.status == ReplyStatus::incomplete) {
            if (input.size() == input_.size()) {
                protocol_error(now_ns);  // a reply larger than the whole buffer
            }
            break;
        }
        if (reply.status == ReplyStatus::malformed) {
            protocol_error(now_ns);
            break;
        }
        input_begin_ += reply.consumed_bytes;
        deadline_ns_ = now_ns + milliseconds_ns(options_.timeout_ms);
        Expect what = expects_[expects_head_];
        expects_head_ = (expects_head_ + 1) % expects_max;
        --expects_count_;
        handle_reply(what, reply, input.substr(0, reply.consumed_bytes), now_ns);
    }
    compact_input();
}

void Session::handle_reply(Expect what, const ParsedReply& reply, std::string_view bytes,
                           std::int64_t now_ns) {
    if (reply.code == 421 && what != Expect::quit) {
        // The server is closing the connection (RFC 5321 section 3.8).
        ++context_.stats.closed_by_server;
        if (!ready_) {
            note_refusal(now_ns);  // "busy, try later" at connect is a refusal
        }
        close_with(CloseKind::server_closing);  // first, so that no new message starts
        if (in_transaction_) {
            finish_transaction(421, reply.last_line, now_ns);
        }
        return;
    }
    switch (what) {
        case Expect::greeting:
        case Expect::ehlo:
        case Expect::helo:
        case Expect::starttls:
        case Expect::auth:
        case Expect::rset:
        case Expect::quit:
            handle_session_reply(what, reply, bytes, now_ns);
            return;
        case Expect::mail:
        case Expect::rcpt:
        case Expect::data:
        case Expect::data_end:
        case Expect::bdat:
            handle_transaction_reply(what, reply, now_ns);
            return;
    }
}

void Session::handle_session_reply(Expect what, const ParsedReply& reply, std::string_view bytes,
                                   std::int64_t now_ns) {
    switch (what) {
        case Expect::greeting:
            if (reply.code != 220) {
                ++context_.stats.greetings_refused;
                note_refusal(now_ns);
                close_with(CloseKind::error);
                return;
            }
            send_line(fmt::format("EHLO {}\r\n", options_.helo), Expect::ehlo);
            finish_output(now_ns);
            return;
        case Expect::ehlo:
            if (positive(reply.code)) {
                on_ehlo_accepted(bytes, now_ns);
            } else if (reply.code >= 500) {
                send_line(fmt::format("HELO {}\r\n", options_.helo), Expect::helo);
                finish_output(now_ns);
            } else {
                ++context_.stats.greetings_refused;
                note_refusal(now_ns);
                close_with(CloseKind::error);
            }
            return;
        case Expect::helo:
            if (!positive(reply.code) || options_.starttls || !shared_.auth_line.empty()) {
                ++context_.stats.greetings_refused;
                note_refusal(now_ns);
                close_with(CloseKind::error);
                return;
            }
            on_ready({}, now_ns);
            return;
        case Expect::starttls:
            if (reply.code != 220) {
                ++context_.stats.tls_failures;
                note_refusal(now_ns);
                close_with(CloseKind::error);
                return;
            }
            start_tls(now_ns);
            return;
        case Expect::auth:
            if (reply.code != 235) {
                ++context_.stats.auth_refused;
                note_refusal(now_ns);
                close_with(CloseKind::error);
                return;
            }
            on_ready(ehlo_features_, now_ns);
            return;
        case Expect::rset:
            if (!positive(reply.code)) {
                protocol_error(now_ns);
                return;
            }
            need_rset_ = false;
            if (expects_count_ == 0) {
                next_message(now_ns);
            }
            return;
        case Expect::quit:
            if (reply.code == 221) {
                ++context_.stats.completed;
                context_.stats.session_latency.record(
                    static_cast<std::uint64_t>(now_ns - connect_started_ns_) / 1000);
            }
            quit_acknowledged_ = true;
            deadline_ns_ = now_ns + milliseconds_ns(options_.timeout_ms);  // now wait for EOF
            return;
        default:
            RELAY_ASSERT(false);
    }
}

void Session::handle_transaction_reply(Expect what, const ParsedReply& reply, std::int64_t now_ns) {
    const int code = reply.code;
    if (!positive(code) && !negative(code) && !(what == Expect::data && code == 354)) {
        protocol_error(now_ns);
        return;
    }
    switch (what) {
        case Expect::mail:
            mail_code_ = code;
            if (!pipelining_) {
                if (positive(code)) {
                    send_next_recipient();
                    finish_output(now_ns);
                } else {
                    finish_transaction(code, reply.last_line, now_ns);
                }
            }
            return;
        case Expect::rcpt:
            if (positive(code)) {
                ++rcpt_accepted_;
            } else {
                ++context_.stats.recipients_rejected;
                first_rcpt_failure_ = first_rcpt_failure_ == 0 ? code : first_rcpt_failure_;
            }
            if (!pipelining_) {
                if (rcpt_sent_ < options_.recipients) {
                    send_next_recipient();
                    finish_output(now_ns);
                } else if (rcpt_accepted_ == 0) {
                    finish_transaction(first_rcpt_failure_, reply.last_line, now_ns);
                } else {
                    begin_output();
                    add_content_command(false);
                    finish_output(now_ns);
                }
            }
            return;
        case Expect::data:
            if (code == 354) {
                send_body();
                finish_output(now_ns);
            } else if (positive(code)) {
                protocol_error(now_ns);  // DATA accepted with no content to follow
            } else {
                finish_transaction(code, reply.last_line, now_ns);
            }
            return;
        case Expect::data_end:
        case Expect::bdat:
            finish_transaction(code, reply.last_line, now_ns);
            return;
        default:
            RELAY_ASSERT(false);
    }
}

// After EHLO: STARTTLS first when asked (the reply before TLS is not trusted for anything else,
// RFC 3207 section 4.2), then AUTH, then mail.
void Session::on_ehlo_accepted(std::string_view ehlo_reply, std::int64_t now_ns) {
    if (options_.starttls && !tls_) {
        send_line("STARTTLS\r\n", Expect::starttls);
        finish_output(now_ns);
        return;
    }
    ehlo_features_ = parse_ehlo(ehlo_reply);
    if (!shared_.auth_line.empty()) {
        send_line(shared_.auth_line, Expect::auth);
        finish_output(now_ns);
        return;
    }
    on_ready(ehlo_features_, now_ns);
}

void Session::on_ready(const EhloFeatures& features, std::int64_t now_ns) {
    ready_ = true;
    context_.refused_since_ns = 0;
    ++context_.stats.connections;
    context_.stats.connect_latency.record(static_cast<std::uint64_t>(now_ns - connect_started_ns_) /
                                          1000);
    pipelining_ = options_.pipelining && features.pipelining;
    bdat_ = options_.bdat && features.chunking;
    mail_line_ = fmt::format("MAIL FROM:<{}>", options_.from);
    if (features.size) {
        mail_line_ += fmt::format(" SIZE={}", options_.size_bytes);
    }
    if (options_.smtputf8 && features.eight_bit_mime) {
        mail_line_ += " BODY=8BITMIME";
    }
    if (options_.smtputf8 && features.smtputf8) {
        mail_line_ += " SMTPUTF8";
    }
    mail_line_ += "\r\n";
    next_message(now_ns);
}

// ---- commands -----------------------------------------------------------------------------

void Session::next_message(std::int64_t now_ns) {
    if (quit_sent_ || end_of_stream_ || close_ != CloseKind::none) {
        return;
    }
    const std::uint32_t limit = options_.messages_per_connection;
    if (limit > 0 && messages_on_connection_ >= limit) {
        send_quit();
    } else if (need_rset_ && !pipelining_) {
        send_line("RSET\r\n", Expect::rset);
    } else {
        start_transaction(now_ns);
        return;  // start_transaction finishes its own output
    }
    finish_output(now_ns);
}

void Session::start_transaction(std::int64_t now_ns) {
    std::uint64_t index = reserved_index_;
    if (reserved_) {
        reserved_ = false;
    } else if (!shared_.claim(now_ns, index)) {
        send_quit();
        finish_output(now_ns);
        return;
    }
    shared_.messages.build(index, message_);
    in_transaction_ = true;
    transaction_started_ns_ = now_ns;
    mail_code_ = 0;
    first_rcpt_failure_ = 0;
    rcpt_accepted_ = 0;
    rcpt_sent_ = 0;
    begin_output();
    if (need_rset_) {
        RELAY_ASSERT(pipelining_);
        commands_ += "RSET\r\n";
        expect(Expect::rset);
        need_rset_ = false;
    }
    commands_ += mail_line_;
    expect(Expect::mail);
    if (pipelining_) {
        ++context_.stats.sent_pipelined;
        while (rcpt_sent_ < options_.recipients) {
            send_next_recipient();
        }
        const std::uint32_t limit = options_.messages_per_connection;
        add_content_command(limit > 0 && messages_on_connection_ + 1 >= limit);
    }
    ++(bdat_ ? context_.stats.sent_with_bdat : context_.stats.sent_with_data);
    finish_output(now_ns);
}

// Appends RCPT for the next recipient of the message (without starting new output).
void Session::send_next_recipient() {
    if (!pipelining_) {
        begin_output();
    }
    const std::size_t count = shared_.rcpt_lines.size();
    commands_ += shared_.rcpt_lines[(message_.first_recipient + rcpt_sent_) % count];
    ++rcpt_sent_;
    expect(Expect::rcpt);
}

// DATA, or BDAT with the whole message as its only chunk. With pipelining the last message of a
// connection carries its QUIT along.
void Session::add_content_command(bool last_on_connection) {
    if (!bdat_) {
        commands_ += "DATA\r\n";
        expect(Expect::data);
        return;
    }
    fmt::format_to(std::back_inserter(commands_), "BDAT {} LAST\r\n", message_.size_bytes());
    expect(Expect::bdat);
    iovec parts[3];
    message_.raw_iovecs(parts);
    for (const iovec& part : parts) {
        add_output(part.iov_base, part.iov_len);
    }
    if (last_on_connection && pipelining_) {
        add_output(quit_line.data(), quit_line.size());
        expect(Expect::quit);
        quit_sent_ = true;
    }
}

void Session::send_body() {
    begin_output();
    iovec parts[3];
    message_.wire_iovecs(parts);
    for (const iovec& part : parts) {
        add_output(part.iov_base, part.iov_len);
    }
    const std::uint32_t limit = options_.messages_per_connection;
    bool last = pipelining_ && limit > 0 && messages_on_connection_ + 1 >= limit;
    std::string_view end = last ? data_end_and_quit : data_end_line;
    add_output(end.data(), end.size());
    expect(Expect::data_end);
    if (last) {
        expect(Expect::quit);
        quit_sent_ = true;
    }
}

void Session::send_line(std::string_view line, Expect what) {
    begin_output();
    commands_ += line;
    expect(what);
}

void Session::send_quit() {
    send_line(quit_line, Expect::quit);
    quit_sent_ = true;
}

void Session::finish_transaction(int code, std::string_view last_line, std::int64_t now_ns) {
    RELAY_ASSERT(in_transaction_);
    in_transaction_ = false;
    ++messages_on_connection_;
    Stats& stats = context_.stats;
    ++stats.attempted;
    if (!positive(mail_code_) && mail_code_ != 0) {
        code = mail_code_;
    } else if (rcpt_accepted_ == 0 && first_rcpt_failure_ != 0) {
        code = first_rcpt_failure_;
    }
    if (positive(code)) {
        ++stats.accepted;
        stats.accepted_bytes += message_.size_bytes();
        stats.accept_latency.record(static_cast<std::uint64_t>(now_ns - transaction_started_ns_) /
                                    1000);
        if (context_.recorder.enabled()) {
            stats.record_errors += context_.recorder.accepted(message_, last_line);
        }
    } else {
        RELAY_ASSERT(negative(code));
        ++stats.rejected_by_code[code - 400];
        need_rset_ = true;
    }
    if (expects_count_ == 0) {
        next_message(now_ns);
    }
}

void Session::protocol_error(std::int64_t now_ns) {
    ++context_.stats.protocol_errors;
    if (!ready_) {
        note_refusal(now_ns);
    }
    if (in_transaction_) {
        ++context_.stats.attempted;
        ++context_.stats.lost;
        in_transaction_ = false;
    }
    close_with(CloseKind::error);
}

void Session::close_with(CloseKind kind) {
    if (close_ == CloseKind::none) {
        close_ = kind;
    }
}

// Counts toward --give-up-ms: a connection that failed before it was ready for mail.
void Session::note_refusal(std::int64_t now_ns) {
    if (context_.refused_since_ns == 0) {
        context_.refused_since_ns = now_ns;
        return;
    }
    if (now_ns - context_.refused_since_ns > milliseconds_ns(options_.give_up_ms)) {
        shared_.gave_up.store(true, std::memory_order_relaxed);
        shared_.stop.store(true, std::memory_order_relaxed);
    }
}

// ---- buffers ------------------------------------------------------------------------------

void Session::begin_output() {
    RELAY_ASSERT(!output_pending_);
    commands_.clear();
    iov_count_ = 1;  // slot 0 is for the command text, filled in by finish_output
    iov_sent_ = 0;
}

void Session::add_output(const void* data, std::size_t bytes) {
    RELAY_ASSERT(iov_count_ < iov_.size());
    iov_[iov_count_++] = {const_cast<void*>(data), bytes};
}

void Session::finish_output(std::int64_t now_ns) {
    if (close_ != CloseKind::none) {
        return;
    }
    iov_[0] = {commands_.data(), commands_.size()};
    iov_sent_ = commands_.empty() ? 1 : 0;
    RELAY_ASSERT(iov_sent_ < iov_count_);
    output_pending_ = true;
    deadline_ns_ = now_ns + milliseconds_ns(options_.timeout_ms);
    if (tls_ && !encrypt_output()) {
        tls_failed(now_ns);
    }
}

// Marks sent bytes of the plaintext iovecs (after a send, or once TLS took them).
void Session::advance_output(std::size_t bytes) {
    while (bytes > 0 && iov_sent_ < iov_count_) {
        iovec& part = iov_[iov_sent_];
        std::size_t taken = bytes < part.iov_len ? bytes : part.iov_len;
        part.iov_base = static_cast<char*>(part.iov_base) + taken;
        part.iov_len -= taken;
        bytes -= taken;
        if (part.iov_len == 0) {
            ++iov_sent_;
        }
    }
    while (iov_sent_ < iov_count_ && iov_[iov_sent_].iov_len == 0) {
        ++iov_sent_;
    }
}

void Session::expect(Expect what) {
    RELAY_ASSERT(expects_count_ < expects_max);
    expects_[(expects_head_ + expects_count_) % expects_max] = what;
    ++expects_count_;
}

void Session::compact_input() {
    if (receiving_) {
        return;  // later: at the next receive_space
    }
    if (input_begin_ == input_end_) {
        input_begin_ = 0;
        input_end_ = 0;
    } else if (input_begin_ > 0) {
        std::memmove(input_.data(), input_.data() + input_begin_, input_end_ - input_begin_);
        input_end_ -= input_begin_;
        input_begin_ = 0;
    }
}

}  // namespace loadgen
