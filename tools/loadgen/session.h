// session.h -- one SMTP client connection of loadgen: the protocol state machine, without I/O.
//
// The worker (worker.h) owns the socket and the ring; it tells a Session what happened (connected,
// bytes received, bytes sent, connection lost) and asks it what to do next (send these iovecs,
// close). A Session never calls the kernel itself, which keeps the protocol readable in one place.
//
// Protocol (RFC 5321 sections 3.3, 4.1, 4.2; RFC 2920 PIPELINING; RFC 3030 CHUNKING/BDAT;
// RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 6531 SMTPUTF8):
//   greeting 220 -> EHLO (HELO if EHLO is refused) -> transactions -> QUIT -> 221 -> server closes.
//   With --starttls (RFC 3207): EHLO -> STARTTLS -> 220 -> TLS handshake -> EHLO again, and from
//   then on every byte goes through a relay::tls::Session in memory (the worker still sends and
//   receives; it sees ciphertext; the TLS steps are in session_tls.cc). With --auth-user
//   (RFC 4954, RFC 4616): AUTH PLAIN with an initial response after the (last) EHLO, 235
//   before the first MAIL.
//   A transaction is MAIL, RCPT x R, then DATA + 354 + body + "." or BDAT n LAST + body. With
//   pipelining, [RSET] MAIL RCPT... DATA (or ... BDAT + body [+ QUIT]) go out in one send, and
//   the replies are matched in order against a queue of expected replies; without it, each
//   command waits for its reply. After a failed transaction the next one starts with RSET.
//
// Untrusted bytes: yes, the server's replies (parsed by reply.h, bounded by the receive buffer).
// Thread: the owning worker only. Must never: block, allocate per message on the hot path
// (buffers are reused), read a reply while its own output is still being sent, or let the expected
// reply queue exceed its bound.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "message.h"
#include "options.h"
#include "record.h"
#include "relay/tls/context.h"
#include "relay/tls/session.h"
#include "reply.h"
#include "stats.h"

namespace loadgen {

// Shared by all workers: read-only settings plus the atomics that hand out message indexes.
struct Shared {
    const Options& options;
    const MessageFactory& messages;
    std::vector<std::string> rcpt_lines;  // "RCPT TO:<...>\r\n", one per --to
    std::string auth_line;                // "AUTH PLAIN <base64>\r\n", empty without --auth-user
    const relay::tls::Context* tls_context = nullptr;  // set with --starttls
    std::string tls_host_name;                         // SNI and the name --tls-verify checks
    std::int64_t end_ns = 0;                           // --duration: no message starts after this
    std::atomic<std::uint64_t> next_index{0};
    std::atomic<bool> stop{false};     // start no new message (signal, give-up)
    std::atomic<bool> abort{false};    // close every connection now (second signal)
    std::atomic<bool> gave_up{false};  // the server refused connections for --give-up-ms

    Shared(const Options& options_in, const MessageFactory& messages_in);
    // Hands out the next message index, or false when the run has no more messages to start.
    bool claim(std::int64_t now_ns, std::uint64_t& index);
    bool has_work(std::int64_t now_ns) const;
};

// Per worker: what its sessions update.
struct WorkerContext {
    Stats stats;
    Recorder recorder;
    std::int64_t refused_since_ns = 0;  // first refusal since a connection last got ready
    std::atomic<std::uint64_t> accepted_published{0};  // for progress lines, read by main

    WorkerContext(int record_fd, std::string dump_dir) : recorder(record_fd, std::move(dump_dir)) {}
};

enum class CloseKind : std::uint8_t { none, normal, error, server_closing };
enum class Loss : std::uint8_t { end_of_stream, reset, send_failed, timeout, aborted };

// The worker's view of the connection; the Session does not touch it except `fd`, read-only.
struct SessionIo {
    int fd = -1;
    std::uint32_t generation = 0;
    int ops_in_flight = 0;  // connect, recv and send (cancel and close are not waited for)
    bool receive_in_flight = false;
    bool send_in_flight = false;
    bool cancel_sent = false;
    bool finished = false;
    std::int64_t backoff_until_ns = 0;  // > 0: waiting to reconnect
    std::uint32_t backoff_ms = 0;
};

class Session {
  public:
    Session(Shared& shared, WorkerContext& context);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    SessionIo io;

    // Events, from the worker.
    void start_connection(std::int64_t now_ns);
    void on_connect_failed(std::int64_t now_ns);
    void on_connected(std::int64_t now_ns);
    void on_received(std::size_t bytes, std::int64_t now_ns);
    void on_sent(std::size_t bytes, std::int64_t now_ns);
    void on_lost(Loss loss, std::int64_t now_ns);
    void on_closed();

    // The worker claims a message before it opens a connection, so that no connection is opened
    // for nothing; the claim survives failed connections until a transaction uses it.
    bool has_reserved_message() const { return reserved_; }
    void reserve_message(std::uint64_t index) {
        reserved_ = true;
        reserved_index_ = index;
    }

    // Questions, from the worker.
    std::span<char> receive_space();
    // The receive handed receive_space() completed (with data, EOF or an error).
    void on_receive_ended() { receiving_ = false; }
    bool connected() const { return connected_ && close_ == CloseKind::none; }
    bool wants_send() const { return output_pending_ && !io.send_in_flight; }
    msghdr* send_message();
    CloseKind close_kind() const { return close_; }
    bool wants_close() const { return close_ != CloseKind::none; }
    std::int64_t deadline_ns() const { return deadline_ns_; }

  private:
    enum class Expect : std::uint8_t {
        greeting,
        ehlo,
        helo,
        starttls,
        auth,
        rset,
        mail,
        rcpt,
        data,
        data_end,
        bdat,
        quit
    };

    void process_replies(std::int64_t now_ns);
    void handle_reply(Expect what, const ParsedReply& reply, std::string_view bytes,
                      std::int64_t now_ns);
    void handle_session_reply(Expect what, const ParsedReply& reply, std::string_view bytes,
                              std::int64_t now_ns);
    void handle_transaction_reply(Expect what, const ParsedReply& reply, std::int64_t now_ns);
    void on_ehlo_accepted(std::string_view ehlo_reply, std::int64_t now_ns);
    void on_ready(const EhloFeatures& features, std::int64_t now_ns);
    void start_tls(std::int64_t now_ns);
    void pump_tls(std::int64_t now_ns);
    bool step_handshake(std::int64_t now_ns);
    void on_tls_sent(std::size_t bytes, std::int64_t now_ns);
    [[nodiscard]] bool encrypt_output();
    void start_tls_output(std::int64_t now_ns);
    void tls_failed(std::int64_t now_ns);
    void advance_output(std::size_t bytes);
    void next_message(std::int64_t now_ns);
    void start_transaction(std::int64_t now_ns);
    void add_content_command(bool last_on_connection);
    void send_next_recipient();
    void send_body();
    void send_line(std::string_view line, Expect what);
    void send_quit();
    void finish_transaction(int code, std::string_view last_line, std::int64_t now_ns);
    void protocol_error(std::int64_t now_ns);
    void close_with(CloseKind kind);
    void note_refusal(std::int64_t now_ns);

    void begin_output();
    void add_output(const void* data, std::size_t bytes);
    void finish_output(std::int64_t now_ns);
    void expect(Expect what);
    void compact_input();

    Shared& shared_;
    WorkerContext& context_;
    const Options& options_;

    // Connection.
    bool connected_ = false;
    bool ready_ = false;
    bool quit_sent_ = false;
    bool quit_acknowledged_ = false;
    bool end_of_stream_ = false;  // the server closed; read what is buffered, send nothing new
    CloseKind close_ = CloseKind::none;
    bool pipelining_ = false;
    bool bdat_ = false;
    std::string mail_line_;
    EhloFeatures ehlo_features_;  // of the last EHLO (the one after TLS with --starttls)
    std::uint32_t messages_on_connection_ = 0;
    bool need_rset_ = false;
    std::int64_t connect_started_ns_ = 0;
    std::int64_t deadline_ns_ = 0;

    // TLS, after STARTTLS: the plaintext output above is encrypted into tls_'s output buffer,
    // and the worker receives ciphertext into cipher_input_, which pump_tls decrypts into input_.
    std::optional<relay::tls::Session> tls_;
    static constexpr std::size_t cipher_input_bytes_max = 16 * 1024;
    std::array<char, cipher_input_bytes_max> cipher_input_{};
    std::size_t cipher_begin_ = 0;
    std::size_t cipher_end_ = 0;
    iovec tls_iov_{};

    // Replies expected, oldest first.
    static constexpr std::size_t expects_max = recipients_max + 8;
    std::array<Expect, expects_max> expects_{};
    std::size_t expects_head_ = 0;
    std::size_t expects_count_ = 0;

    // Transaction.
    bool reserved_ = false;
    std::uint64_t reserved_index_ = 0;
    Message message_;
    bool in_transaction_ = false;
    std::int64_t transaction_started_ns_ = 0;
    int mail_code_ = 0;
    int first_rcpt_failure_ = 0;
    std::uint32_t rcpt_accepted_ = 0;
    std::uint32_t rcpt_sent_ = 0;

    // Output: the command text, then up to four more iovecs (message parts, terminator).
    std::string commands_;
    std::array<iovec, 8> iov_{};
    std::size_t iov_count_ = 0;
    std::size_t iov_sent_ = 0;  // iovecs fully sent
    bool output_pending_ = false;
    msghdr msg_{};

    // Input.
    static constexpr std::size_t input_bytes_max = 16 * 1024;
    std::array<char, input_bytes_max> input_{};
    std::size_t input_begin_ = 0;
    std::size_t input_end_ = 0;
    // A receive into [input_end_, ...) is in flight: the input must not move until it ends
    // (the kernel writes where the space was when it was handed out).
    bool receiving_ = false;
};

}  // namespace loadgen
