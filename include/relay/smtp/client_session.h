// client_session.h -- the SMTP client state machine for one outbound connection (RFC 5321 §3-4,
// RFC 2920 PIPELINING, RFC 3030 CHUNKING, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 6531 SMTPUTF8,
// RFC 6152 8BITMIME, RFC 1870 SIZE, RFC 2034 ENHANCEDSTATUSCODES).
//
// Pure: server bytes in (`receive`), client bytes out (`output`), results out (`take_result`).
// No sockets, no TLS, no clock: the connection driver moves the bytes, runs the TLS handshake
// when the session asks for it, and enforces the timeout the session names for its current
// wait. Several transactions may run one after another on one session (connection reuse).
//
// The message body never passes through output(): the driver streams it from its own buffer in
// pieces of any size (body_piece), and the session hands each piece back as it is (BDAT) or
// dot-stuffed (DATA). So a message of any size costs the session its commands and prefix, and
// at most twice the largest piece.
//
// Untrusted bytes: everything the server sends (bounded by ReplyReader). The number of replies
// the session waits for is bounded by the recipients of the current transaction plus three.
// Runs on the worker that owns the connection; never blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/dot_stuffer.h"
#include "relay/smtp/reply.h"

namespace relay::smtp {

struct ClientSettings {
    std::string helo_name = "localhost";
    bool try_starttls = true;   // send STARTTLS when the server offers it
    bool require_tls = false;   // fail unless the session runs over TLS (implies trying)
    std::string auth_username;  // AUTH (PLAIN, else LOGIN) after EHLO when set
    std::string auth_password;
};

struct ServerCapabilities {
    bool extended = false;  // the server answered EHLO (not only HELO)
    bool pipelining = false;
    bool chunking = false;
    bool smtputf8 = false;
    bool eight_bit_mime = false;
    bool starttls = false;
    bool enhanced_status_codes = false;
    bool size = false;                         // SIZE advertised, with or without a limit
    std::optional<std::uint64_t> size_max;     // SIZE n with n > 0
    std::vector<std::string> auth_mechanisms;  // upper case, no duplicates
};

// One transaction: the envelope, the prefix, and what the body the driver streams is like.
struct OutboundMessage {
    std::string reverse_path;             // empty: the null sender "<>"
    std::vector<std::string> recipients;  // at least one; no CR or LF in any address
    bool smtputf8 = false;                // the envelope or headers need SMTPUTF8
    bool eight_bit = false;               // the content has 8-bit octets (BODY=8BITMIME)
    // Sent before the body: trace and signature header fields, each ending in CRLF (small;
    // empty or ending in CRLF).
    std::string prefix;
    // The stored message (CRLF lines, not dot-stuffed) the driver streams after the prefix:
    // its size, and whether it is empty or ends in CRLF. When it does not, the session adds a
    // CRLF, with DATA and with BDAT alike, so that both deliver the same message; SIZE= and
    // the BDAT size count it.
    std::uint64_t body_bytes = 0;
    bool body_ends_with_crlf = true;
};

struct TransactionResult {
    // One reply per recipient, in order: the final word on that recipient. For a recipient
    // the server accepted, that is the reply to the data (or the reason the data was not
    // sent); else its RCPT reply, or the MAIL reply when MAIL failed; or a reply the session
    // made up for a local failure (for example "550 5.6.7 ... does not support SMTPUTF8"),
    // flagged by `local`.
    std::vector<Reply> recipient_replies;
    bool local = false;  // no transaction was attempted: the session decided on its own
    // Per recipient (empty when none): the reply is relay's own, given because its copy of the
    // message could not be read (body_failed), not the server's.
    std::vector<bool> relay_failed;
};

// What the session waits for, so that the driver applies the RFC 5321 §4.5.3.2 timeout.
enum class Wait {
    nothing,     // idle between transactions, or closed
    greeting,    // §4.5.3.2.1: 5 minutes
    command,     // EHLO, STARTTLS (and its handshake), AUTH, MAIL, RCPT, RSET, QUIT: 5 minutes
    data_start,  // the 354 after DATA: 2 minutes
    data_block,  // the body is due (body_due()): 3 minutes per block the driver sends
    data_end,    // the reply after the final dot or BDAT LAST: 10 minutes
};

class ClientSession {
  public:
    enum class State {
        greeting,     // waiting for 220
        greeting_up,  // EHLO/HELO, STARTTLS, AUTH in progress
        tls_needed,   // the driver must run the TLS handshake now, then call tls_established
        ready,        // may start a transaction
        transaction,  // a transaction is in progress
        quitting,
        closed,  // done (after QUIT, or the server closed)
        failed,  // the session cannot be used: see failure()
    };

    // The session keeps its own copy of the settings.
    explicit ClientSession(const ClientSettings& settings);

    // Server bytes (any split). Afterwards check state(), output() and take_result(). Bytes
    // that arrive while the session expects nothing from the server (tls_needed, closed,
    // failed) are dropped: after STARTTLS's 220, plaintext is never read as a reply (RFC 3207
    // §5, response injection).
    void receive(std::string_view bytes);
    // The server closed the connection or it broke (the driver calls this once).
    void connection_lost(std::string_view reason);

    // Bytes to send (plaintext: the driver encrypts once TLS is on); the driver takes them
    // (moves them out) before it waits for the server: a 220 to STARTTLS that arrives while the
    // command is still in output() cannot be a reply to it, and fails the session.
    // In state failed, output() may still hold a polite "QUIT" (after a refusal at the command
    // level, e.g. STARTTLS refused under require_tls); the driver may send it before closing.
    std::string& output() { return output_; }

    State state() const { return state_; }
    // data_block while the body is due, whatever replies are still outstanding; after
    // body_sent(), data_end once every reply before the one to the data has come.
    Wait waiting_for() const;
    // The TLS handshake completed: the session sends EHLO again. Also valid in state greeting
    // before any byte was received, for implicit TLS (port 465): then nothing is sent.
    void tls_established();
    // The TLS handshake failed: the session fails with this reason.
    void tls_failed(std::string_view reason);
    bool tls_active() const { return tls_active_; }

    // Starts a transaction (state() must be ready). With PIPELINING, MAIL, RCPT... and DATA (or
    // BDAT LAST and the prefix) are written at once.
    void send(const OutboundMessage& message);

    // The body is due: the driver takes output() first (the commands, then the prefix, already
    // framed), then streams exactly body_bytes of body, in order, in pieces of any size, each
    // through body_piece(), and sends what it returns; then it calls body_sent(). With BDAT the
    // body is due as soon as the commands are written, even if every RCPT fails later (RFC 3030
    // §2: the server reads the chunk and discards it); with DATA after the 354, and only when a
    // recipient was accepted. Replies may arrive meanwhile (to pipelined MAIL and RCPT); one to
    // the data itself before body_sent() is a protocol error.
    bool body_due() const;
    // The bytes to send for `piece`: `piece` itself when it needs no change (always with BDAT,
    // and with DATA when no line in it starts with '.'), else a view of the session's own
    // buffer holding the dot-stuffed copy, valid until the next call. The driver keeps `piece`
    // valid until it has sent (or copied) what this returns. output() must be empty. Memory:
    // at most twice the largest piece.
    [[nodiscard]] std::string_view body_piece(std::string_view piece);
    // The whole body went through body_piece(): the session writes the end of the data to
    // output() (DATA: a CRLF if the data does not end in one, then ".\r\n"; BDAT: that CRLF
    // when the declared size counts it) and waits for the reply.
    void body_sent();
    // The body could not be read (damaged spool data): the transaction cannot be completed.
    // Every recipient without a final reply gets `reply` (a local 4xx or 5xx the caller
    // chooses), the result is published, and the session fails: a DATA or BDAT in progress
    // cannot be ended cleanly, so the driver drops the connection without sending the end of
    // the data, and the server discards the partial message. Nothing is written to output().
    void body_failed(const Reply& reply);
    // The result of the transaction started last, once complete (state() is ready again, or
    // failed/closed when the connection broke mid-way: then every recipient the transaction had
    // not finished gets a 4xx reply naming the reason).
    std::optional<TransactionResult> take_result();

    // Sends QUIT (when ready) and closes after the reply. In states before ready the session
    // just closes; during a transaction, the unfinished recipients get a 4xx reply first.
    void quit();

    const ServerCapabilities& capabilities() const { return capabilities_; }
    // The server's greeting line, for logs and DSNs ("220 mx.example.net ESMTP").
    const std::string& greeting() const { return greeting_; }
    // Why the session failed: one line naming the step and the server's reply, e.g.
    // "STARTTLS refused: 454 4.7.0 TLS not available".
    const std::string& failure() const { return failure_; }
    // True if the failure was permanent (a 5xx greeting, for example), else retrying may help.
    bool failure_permanent() const { return failure_permanent_; }

  private:
    // The reply the session waits for, in the order the commands were sent.
    enum class Expect : std::uint8_t {
        greeting,
        ehlo,
        helo,
        starttls,
        auth_plain,
        auth_login_user,      // the 334 that asks for the user name
        auth_login_password,  // the 334 that asks for the password
        auth_login_done,
        mail,
        rcpt,
        data,              // the 354
        data_end,          // the reply after the final dot
        data_end_ignored,  // after a lone "." sent because no recipient was accepted
        bdat,
        rset,
        quit,
    };

    // Whether the data written so far (prefix, then body pieces) ends in CRLF.
    struct DataEnd {
        bool crlf = false;
        bool cr = false;  // the last octet was CR (a piece may end between CR and LF)
        void add(std::string_view text);
    };

    // The transaction in progress.
    struct Transaction {
        std::vector<std::string> commands;  // MAIL, then one RCPT per recipient
        std::size_t commands_sent = 0;
        std::string prefix;
        std::uint64_t body_bytes = 0;
        std::uint64_t data_bytes = 0;  // prefix, body and the added CRLF: SIZE=, BDAT
        bool add_final_crlf = false;
        bool body_due = false;
        std::uint64_t body_streamed_bytes = 0;  // through body_piece() so far
        DataEnd data_end;
        DotStuffer stuffer;                               // DATA only
        std::vector<std::optional<Reply>> final_replies;  // per recipient, once known
        std::vector<bool> accepted;                       // per recipient: RCPT got 2xx
        std::size_t rcpt_replies = 0;
        std::size_t accepted_count = 0;
        bool mail_accepted = false;
        bool mail_rejected = false;
        bool completed = false;  // the server ended the transaction (reply to the data)
    };

    void handle_reply(const Reply& reply);
    void handle_greeting_up_reply(Expect expect, const Reply& reply);
    void handle_transaction_reply(Expect expect, const Reply& reply);
    void handle_greeting(const Reply& reply);
    void handle_ehlo(const Reply& reply);
    void handle_helo(const Reply& reply);
    void handle_starttls(const Reply& reply);
    void handle_auth(Expect expect, const Reply& reply);
    void handle_mail(const Reply& reply);
    void handle_rcpt(const Reply& reply);
    void handle_data(const Reply& reply);
    void handle_data_end(Expect expect, const Reply& reply);
    void handle_bdat(const Reply& reply);
    void handle_rset(const Reply& reply);

    void send_command(std::string_view command, Expect expect);
    void send_ehlo();
    void after_hello();
    void start_auth_or_ready();
    std::optional<TransactionResult> local_refusal(const OutboundMessage& message) const;
    void send_next_transaction_command();
    void send_data_command();
    void start_stuffed_data();
    void set_accepted_replies(const Reply& reply);
    void finish_transaction();
    void publish_result();
    void finish_pending(const Reply& reply);
    void fail(std::string reason, bool permanent, bool polite);
    void fail_protocol(std::string_view step, std::string_view what);
    void fail_closed_by_server(const Reply& reply);
    std::string_view step_name() const;
    static std::string_view step_name(Expect step);
    std::string_view host() const;

    ClientSettings settings_;
    ReplyReader reader_;
    std::string output_;
    State state_ = State::greeting;
    ServerCapabilities capabilities_;
    bool tls_active_ = false;
    bool received_any_ = false;
    std::string greeting_;
    std::string greeting_host_;
    std::string failure_;
    bool failure_permanent_ = false;
    std::deque<Expect> expected_;  // bounded: recipients + 3 at most
    std::optional<Transaction> transaction_;
    std::optional<TransactionResult> result_;
};

}  // namespace relay::smtp
