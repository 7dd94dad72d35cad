// server_replies.h -- every fixed reply the SMTP server session gives, one constant each.
//
// Together with parser_replies (command.h) this is the complete list docs/smtp-replies.md
// documents; a test checks that every entry appears there. Replies whose text carries a value
// (the greeting, "queued as <id>", 421 with the host name) are described in the docs as
// patterns; message_line_too_long is such a pattern, kept here with its placeholders so that the
// same test finds it. Enhanced status codes are RFC 3463's.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "relay/smtp/command.h"

namespace relay::smtp::server_replies {

inline constexpr SyntaxReply ok{250, "2.0.0", "Ok"};
inline constexpr SyntaxReply sender_ok{250, "2.1.0", "Ok"};
inline constexpr SyntaxReply recipient_ok{250, "2.1.5", "Ok"};
inline constexpr SyntaxReply start_data{354, "", "End data with <CR><LF>.<CR><LF>"};
inline constexpr SyntaxReply bye{221, "2.0.0", "Bye"};
inline constexpr SyntaxReply vrfy{252, "2.5.2",
                                  "Cannot VRFY user, but will accept message and attempt delivery"};
inline constexpr SyntaxReply help{
    214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP; see RFC 5321"};

inline constexpr SyntaxReply starttls_ready{220, "2.0.0", "Ready to start TLS"};

// Sequence errors (RFC 5321 §4.1.4).
inline constexpr SyntaxReply need_helo{503, "5.5.1", "Error: send HELO/EHLO first"};
inline constexpr SyntaxReply nested_mail{503, "5.5.1", "Error: nested MAIL command"};
inline constexpr SyntaxReply need_mail{503, "5.5.1", "Error: need MAIL command"};
inline constexpr SyntaxReply data_after_bdat{503, "5.5.1", "Error: DATA cannot follow BDAT"};
inline constexpr SyntaxReply no_recipients{554, "5.5.1", "Error: no valid recipients"};
// STARTTLS inside TLS (RFC 3207 §4: STARTTLS is no longer offered once TLS is active).
inline constexpr SyntaxReply tls_already_active{503, "5.5.1", "Error: TLS already active"};

// Commands that are known but not offered here.
inline constexpr SyntaxReply expn_unavailable{502, "5.5.1", "Error: EXPN not available"};
inline constexpr SyntaxReply starttls_unavailable{502, "5.5.1",
                                                  "Error: STARTTLS not available on this listener"};
inline constexpr SyntaxReply auth_unavailable{
    502, "5.5.1", "Error: authentication not available on this listener"};

// SMTP AUTH (RFC 4954 §4, §6; RFC 3463).
inline constexpr SyntaxReply auth_success{235, "2.7.0", "Authentication successful"};
inline constexpr SyntaxReply auth_required{530, "5.7.0", "Authentication required"};
inline constexpr SyntaxReply auth_invalid{535, "5.7.8", "Authentication credentials invalid"};
inline constexpr SyntaxReply auth_needs_tls{
    538, "5.7.11", "Encryption required for requested authentication mechanism"};
inline constexpr SyntaxReply auth_unavailable_now{454, "4.7.0", "Temporary authentication failure"};
inline constexpr SyntaxReply auth_mechanism{504, "5.5.4", "Unrecognized authentication type"};
inline constexpr SyntaxReply auth_bad_base64{501, "5.5.2", "Cannot decode response"};
inline constexpr SyntaxReply auth_bad_plain{
    501, "5.5.2", "Error: a PLAIN response is [authzid] NUL username NUL password"};
inline constexpr SyntaxReply auth_cancelled{501, "5.0.0", "Authentication cancelled"};
inline constexpr SyntaxReply auth_twice{503, "5.5.1", "Error: already authenticated"};
inline constexpr SyntaxReply auth_in_transaction{
    503, "5.5.1", "Error: AUTH is not allowed during a mail transaction"};

// Sender authorization (a logged-in client sends as its own domains only).
inline constexpr SyntaxReply sender_not_owned{
    553, "5.7.1", "Error: the sender's domain is not a domain of the account you logged in as"};
inline constexpr SyntaxReply null_sender_refused{
    553, "5.7.1", "Error: the null sender <> is not accepted from clients"};
inline constexpr SyntaxReply from_not_owned{
    550, "5.7.1", "Error: a From address is not of a domain of the account you logged in as"};
inline constexpr SyntaxReply from_unreadable{
    550, "5.7.1",
    "Error: the message needs exactly one From field with addresses that read one way only"};

// Arguments the parser accepts but this server does not.
inline constexpr SyntaxReply binarymime{555, "5.5.4", "Error: BODY=BINARYMIME is not supported"};
inline constexpr SyntaxReply smtputf8_needs_ehlo{555, "5.5.4", "Error: SMTPUTF8 requires EHLO"};
inline constexpr SyntaxReply address_needs_smtputf8{553, "5.6.7",
                                                    "Error: a non-ASCII address requires SMTPUTF8"};

// Limits.
inline constexpr SyntaxReply line_too_long{500, "5.5.2", "Error: command line too long"};
inline constexpr SyntaxReply too_many_recipients{452, "4.5.3", "Error: too many recipients"};
inline constexpr SyntaxReply message_too_large{552, "5.3.4",
                                               "Error: message size exceeds fixed limit"};
inline constexpr SyntaxReply header_too_large{552, "5.3.4",
                                              "Error: message header exceeds fixed limit"};

// The message could not be made durable (relay's side; the reply adds "(incident ID)", the id
// of the log line that says why). The message is fine: the client tries again later.
inline constexpr SyntaxReply not_queued{
    451, "4.3.0", "Error: local problem, message not queued; try again later"};
inline constexpr SyntaxReply not_queued_no_room{
    452, "4.3.1", "Error: insufficient system storage, message not queued; try again later"};

// Content (the message pass's verdicts).
inline constexpr SyntaxReply bare_line_ending{
    554, "5.6.0", "Error: bare CR or LF in message content (lines must end in CRLF)"};
inline constexpr SyntaxReply invalid_utf8{554, "5.6.0",
                                          "Error: message content is not valid UTF-8"};
inline constexpr SyntaxReply nul_octet{
    554, "5.6.0", "Error: NUL octet in message content (RFC 5322 text has none)"};
// Sent with <n> and <max> filled in by message_line_too_long_text. Says what to do: a sender can
// always encode a long line, and relay does not fold it (that would change signed content).
inline constexpr SyntaxReply message_line_too_long{
    554, "5.6.0",
    "Error: line <n> of the message is longer than <max> octets (RFC 5322 section 2.1.1); "
    "encode that part with quoted-printable or base64"};
// Only UTF-8 (message/mime_scanner.h): sent with <charset> and <where> filled in by
// with_placeholders, say what was refused and where: "charset windows-1251 in part 2", "charset
// koi8-r in the Subject header". <where> names parts as IMAP numbers them (1, 2, 1.2).
inline constexpr SyntaxReply charset_refused{
    554, "5.6.0", "only UTF-8 is accepted: charset <charset> in <where>"};
// invalid_utf8 when the charset scan knows where: "in the body of part 2", "in the header".
inline constexpr SyntaxReply invalid_utf8_where{
    554, "5.6.0", "Error: message content is not valid UTF-8 in <where>"};
inline constexpr SyntaxReply mime_too_deep{
    554, "5.6.0", "Error: MIME parts nested more than <max> deep, in <where>"};
inline constexpr SyntaxReply mime_boundary_too_long{
    554, "5.6.0", "Error: multipart boundary longer than <max> octets in <where>"};

// 421 replies: the text follows the host name; the connection closes after them.
inline constexpr SyntaxReply too_many_errors{421, "4.7.0", "Error: too many errors"};
inline constexpr SyntaxReply timeout{421, "4.4.2", "Error: timeout exceeded"};
inline constexpr SyntaxReply transaction_too_long{421, "4.4.2",
                                                  "Error: transaction time limit exceeded"};
inline constexpr SyntaxReply data_too_slow{421, "4.4.2", "Error: message data arrives too slowly"};
inline constexpr SyntaxReply shutting_down{421, "4.3.2", "Service shutting down"};
inline constexpr SyntaxReply too_many_connections{421, "4.7.0", "Error: too many connections"};
inline constexpr SyntaxReply too_many_connections_from_client{
    421, "4.7.0", "Error: too many connections from your address"};
// Before the first successful HELO/EHLO, an octet no command can hold (a TLS ClientHello sent to
// a plaintext port starts 0x16 0x03): closed at once, not left to swallow the next command.
inline constexpr SyntaxReply binary_before_helo{
    421, "4.5.1",
    "Error: binary input before EHLO (a TLS handshake on a plaintext port?); closing"};
// DATA was refused and more input was already there: the client did not wait for the reply to
// DATA (RFC 2920 §3.1), so what follows is message text, not commands.
inline constexpr SyntaxReply data_refused_pipelined{
    421, "4.5.0", "Error: message data sent before the reply to DATA; closing"};

// The greeting refused (RFC 5321 §3.1: 554 in place of 220): the client's address is outside the
// listener's client networks. The text follows the host name; the connection closes after it.
inline constexpr SyntaxReply client_not_allowed{
    554, "5.7.1", "Error: your address is not allowed to use this service"};

// Stop lists (docs/stop-lists.md). Patterns: <addr> and <recipients> are filled in by the
// functions below.
inline constexpr SyntaxReply recipient_stopped{550, "5.7.1",
                                               "<addr>: recipient is on the stop list"};
inline constexpr SyntaxReply message_stopped{
    554, "5.7.1", "Error: message not sent to anyone: recipients on the stop list: <recipients>"};
inline constexpr SyntaxReply stop_list_unavailable{
    451, "4.3.0", "Error: the stop list cannot be read; try again later"};
// Rate limits. The message rate of a resource, at MAIL (the unit taken there is given back if
// the transaction ends without a queued message); sent with its values filled in by
// rate_limited_text.
inline constexpr SyntaxReply rate_limited{
    451, "4.7.1", "rate limit of <messages> messages per <window> s reached; try again in <n> s"};
// Cluster mode: Redis, which holds the fleet's count, has not answered for longer than the grace
// period and this node holds no leased unit (docs/cluster.md).
inline constexpr SyntaxReply rate_limit_unavailable{
    451, "4.3.0", "Error: the rate limit cannot be checked now; try again later"};
// New connections of one client address in the last minute (closes), and connections logged in
// as one resource at once (the AUTH is refused; the connection stays).
inline constexpr SyntaxReply too_many_connections_per_minute{
    421, "4.7.0", "Error: too many connections from your address in the last minute"};
inline constexpr SyntaxReply too_many_logins{
    454, "4.7.0", "Error: too many connections logged in as this account; try again later"};

// The bounce listener (docs/bounces.md): only the bounce domain's VERP addresses (and its
// complaint and postmaster addresses) take mail; a token whose HMAC fails names nothing of ours.
inline constexpr SyntaxReply bounce_wrong_domain{
    550, "5.1.1", "Error: this server takes mail for its bounce domain only"};
inline constexpr SyntaxReply bounce_no_such_address{550, "5.1.1",
                                                    "Error: no such address on the bounce domain"};
inline constexpr SyntaxReply bounce_token_invalid{
    550, "5.7.1", "Error: this bounce address was not made by this relay"};
inline constexpr SyntaxReply bounce_busy{
    451, "4.3.0", "Error: too many reports waiting to be read; try again later"};

inline constexpr SyntaxReply all[] = {
    ok,
    sender_ok,
    recipient_ok,
    start_data,
    bye,
    vrfy,
    help,
    starttls_ready,
    need_helo,
    nested_mail,
    need_mail,
    data_after_bdat,
    no_recipients,
    tls_already_active,
    expn_unavailable,
    starttls_unavailable,
    auth_unavailable,
    auth_success,
    auth_required,
    auth_invalid,
    auth_needs_tls,
    auth_unavailable_now,
    auth_mechanism,
    auth_bad_base64,
    auth_bad_plain,
    auth_cancelled,
    auth_twice,
    auth_in_transaction,
    sender_not_owned,
    null_sender_refused,
    from_not_owned,
    from_unreadable,
    not_queued,
    not_queued_no_room,
    binarymime,
    smtputf8_needs_ehlo,
    address_needs_smtputf8,
    line_too_long,
    too_many_recipients,
    message_too_large,
    header_too_large,
    bare_line_ending,
    invalid_utf8,
    nul_octet,
    message_line_too_long,
    charset_refused,
    invalid_utf8_where,
    mime_too_deep,
    mime_boundary_too_long,
    too_many_errors,
    timeout,
    transaction_too_long,
    data_too_slow,
    shutting_down,
    too_many_connections,
    too_many_connections_from_client,
    binary_before_helo,
    data_refused_pipelined,
    client_not_allowed,
    recipient_stopped,
    message_stopped,
    stop_list_unavailable,
    rate_limited,
    rate_limit_unavailable,
    too_many_connections_per_minute,
    too_many_logins,
    bounce_wrong_domain,
    bounce_no_such_address,
    bounce_token_invalid,
    bounce_busy,
};

// The text of message_line_too_long for line `line_number` and the limit `line_bytes_max`.
inline std::string message_line_too_long_text(std::uint64_t line_number,
                                              std::uint64_t line_bytes_max) {
    std::string text(message_line_too_long.text);
    text.replace(text.find("<n>"), 3, std::to_string(line_number));
    text.replace(text.find("<max>"), 5, std::to_string(line_bytes_max));
    return text;
}

// The text of `reply` with each placeholder ("<where>") replaced by its value, in order.
inline std::string with_placeholders(
    const SyntaxReply& reply,
    std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
    std::string text(reply.text);
    for (const auto& [placeholder, value] : values) {
        const std::size_t at = text.find(placeholder);
        if (at != std::string::npos) {
            text.replace(at, placeholder.size(), value);
        }
    }
    return text;
}

// recipient_stopped's text for `address`.
inline std::string recipient_stopped_text(std::string_view address) {
    std::string text(recipient_stopped.text);
    text.replace(text.find("addr"), 4, address);
    return text;
}

// message_stopped's text naming `listed` (the first few of the listed recipients, as the caller
// chose them) and how many more there are.
inline std::string message_stopped_text(std::string_view listed, std::size_t more) {
    std::string text(message_stopped.text);
    std::string recipients(listed);
    if (more > 0) {
        recipients += " and " + std::to_string(more) + " more";
    }
    text.replace(text.find("<recipients>"), 12, recipients);
    return text;
}

// The text of rate_limited for a limit of `messages` per `window_s` and a wait of `wait_s`.
inline std::string rate_limited_text(std::uint32_t messages, std::uint32_t window_s,
                                     std::uint64_t wait_s) {
    std::string text(rate_limited.text);
    text.replace(text.find("<messages>"), 10, std::to_string(messages));
    text.replace(text.find("<window>"), 8, std::to_string(window_s));
    text.replace(text.find("<n>"), 3, std::to_string(wait_s));
    return text;
}

}  // namespace relay::smtp::server_replies
