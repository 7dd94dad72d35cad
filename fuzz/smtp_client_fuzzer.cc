// smtp_client_fuzzer.cc -- libFuzzer harness for the SMTP client state machine (ClientSession).
//
// The input is a script. Octet 0 picks the settings (STARTTLS, require TLS, AUTH) and whether
// the server's greeting and EHLO reply are canned (with PIPELINING and/or CHUNKING, so that
// the fuzzer reaches transactions at once) or come from the fuzzer; octet 1 picks the message
// (recipients, SMTPUTF8, 8-bit, one of a few bodies). Then records of [operation][length]
// [bytes]: server bytes fed whole, octet by octet or in two halves, send(), the next piece of
// the body (of [length] octets, 255 for the rest; ended with body_sent() once all is sent) or
// body_failed(), the TLS handshake finishing or failing, quit(), and the connection breaking.
// Whatever the bytes, the session must not crash, and it must keep its promises: every
// transaction ends in exactly one result with one reply per recipient, no bytes are written
// once the session is over or while it waits for TLS, waiting_for() agrees with state(), each
// body piece comes back as it is (BDAT) or stuffed exactly as a one-octet-at-a-time reference
// stuffs it (DATA), and a failed body leaves nothing to send.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/client_session.h"

namespace {

using namespace relay::smtp;
using State = ClientSession::State;

#define FUZZ_CHECK(condition)                                                           \
    do {                                                                                \
        if (!(condition)) {                                                             \
            std::fprintf(stderr, "check failed: %s (line %d)\n", #condition, __LINE__); \
            std::abort();                                                               \
        }                                                                               \
    } while (false)

constexpr std::string_view bodies[] = {
    "Subject: x\r\n\r\nhello\r\n",
    ".leading dot\r\n..two\r\n.\r\nend",
    "",
    "bare\nlf\n.dot after lf\r\n\xc3\xa9\r\n",
};

// RFC 5321 §4.5.2 read literally: the reference the session's stuffing must match.
std::string reference_stuffed(std::string_view text, bool& line_start) {
    std::string out;
    for (const char c : text) {
        if (line_start && c == '.') {
            out.push_back('.');
        }
        out.push_back(c);
        line_start = c == '\n';
    }
    return out;
}

// The fuzzer's view of one session.
class Driver {
  public:
    Driver(const ClientSettings& settings, const OutboundMessage& message, std::string_view body)
        : session_(settings), message_(message), body_(body) {}

    ClientSession& session() { return session_; }

    void feed(std::string_view bytes, int how) {
        if (how == 1) {
            for (const char c : bytes) {
                session_.receive(std::string_view(&c, 1));
            }
        } else if (how == 2) {
            session_.receive(bytes.substr(0, bytes.size() / 2));
            session_.receive(bytes.substr(bytes.size() / 2));
        } else {
            session_.receive(bytes);
        }
    }

    void send() {
        if (session_.state() == State::ready) {
            session_.send(message_);
            in_flight_ = true;
            body_offset_ = 0;
            // The prefix is empty or ends in a line: the body starts a line.
            line_start_ = true;
        }
    }

    // The next `length` octets of the body (255: the rest), ended once all were sent.
    void body_piece(std::size_t length) {
        if (!session_.body_due()) {
            return;
        }
        FUZZ_CHECK(session_.waiting_for() == Wait::data_block);
        const std::string_view piece =
            body_.substr(body_offset_, length == 255 ? body_.size() : length);
        body_offset_ += piece.size();
        const std::string_view out = session_.body_piece(piece);
        if (session_.capabilities().chunking) {
            FUZZ_CHECK(out.data() == piece.data() && out.size() == piece.size());
        } else {
            FUZZ_CHECK(out == reference_stuffed(piece, line_start_));
        }
        FUZZ_CHECK(session_.body_due());
        if (body_offset_ == body_.size()) {
            session_.body_sent();
            FUZZ_CHECK(!session_.body_due());
            const std::string& output = session_.output();
            if (!session_.capabilities().chunking) {
                FUZZ_CHECK(output.size() >= 3 && output.substr(output.size() - 3) == ".\r\n");
            }
        }
    }

    void body_failed(bool permanent) {
        if (!session_.body_due()) {
            return;
        }
        session_.body_failed(permanent ? Reply{554, "5.3.0", "damaged"}
                                       : Reply{451, "4.3.0", "read error"});
        FUZZ_CHECK(session_.state() == State::failed);
        FUZZ_CHECK(session_.output().empty());
        FUZZ_CHECK(!session_.body_due());
    }

    // Checks the session after one step; `was_over`: the session had ended before the step;
    // `was_due`: the body was due before it.
    void check(bool was_over, bool was_due) {
        const State state = session_.state();
        std::string& output = session_.output();
        if (was_over || state == State::tls_needed) {
            FUZZ_CHECK(output.empty());
        }
        // While the body goes out, nothing may be written around it.
        if (was_due && session_.body_due()) {
            FUZZ_CHECK(output.empty());
        }
        output.clear();
        const bool over = state == State::closed || state == State::failed;
        FUZZ_CHECK(state != State::failed || !session_.failure().empty());
        const Wait wait = session_.waiting_for();
        if (over || state == State::ready) {
            FUZZ_CHECK(wait == Wait::nothing);
        } else {
            FUZZ_CHECK(wait != Wait::nothing);
        }
        FUZZ_CHECK(session_.body_due() == (wait == Wait::data_block));
        FUZZ_CHECK(!session_.body_due() || state == State::transaction);
        if (std::optional<TransactionResult> result = session_.take_result()) {
            FUZZ_CHECK(in_flight_);
            in_flight_ = false;
            FUZZ_CHECK(result->recipient_replies.size() == message_.recipients.size());
            for (const Reply& reply : result->recipient_replies) {
                FUZZ_CHECK(reply.code >= 200 && reply.code <= 599);
                FUZZ_CHECK(!reply.summary().empty());
            }
            FUZZ_CHECK(state != State::transaction);
        }
        // A transaction in flight is either still running or has delivered its result.
        FUZZ_CHECK(!in_flight_ || state == State::transaction);
    }

  private:
    ClientSession session_;
    const OutboundMessage& message_;
    std::string_view body_;
    std::size_t body_offset_ = 0;
    bool line_start_ = true;  // of the reference stuffing
    bool in_flight_ = false;
};

OutboundMessage make_message(std::uint8_t choice) {
    OutboundMessage message;
    message.reverse_path = (choice & 0x80) != 0 ? "" : "bounces+t@relay.test";
    const std::size_t recipients = (choice & 0x03) + 1;
    for (std::size_t index = 0; index < recipients; ++index) {
        message.recipients.push_back("r" + std::to_string(index) + "@example.org");
    }
    message.smtputf8 = (choice & 0x04) != 0;
    message.eight_bit = (choice & 0x08) != 0;
    message.prefix = (choice & 0x40) != 0 ? "" : "X-Trace: relay\r\n";
    const std::string_view body = bodies[(choice >> 4) & 0x03];
    message.body_bytes = body.size();
    message.body_ends_with_crlf = body.empty() || body.ends_with("\r\n");
    return message;
}

std::string canned_start(std::uint8_t flags) {
    std::string out = "220 mx.example.net ESMTP\r\n250-mx.example.net\r\n250-8BITMIME\r\n";
    out += (flags & 0x20) != 0 ? "250-PIPELINING\r\n" : "";
    out += (flags & 0x40) != 0 ? "250-CHUNKING\r\n" : "";
    out += (flags & 0x80) != 0 ? "250-SIZE 64\r\n" : "";
    out += "250 SMTPUTF8\r\n";
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    const std::uint8_t flags = data[0];
    ClientSettings settings;
    settings.helo_name = "relay.test";
    settings.try_starttls = (flags & 0x01) != 0;
    settings.require_tls = (flags & 0x02) != 0;
    if ((flags & 0x04) != 0) {
        settings.auth_username = "user";
        settings.auth_password = "secret";
    }
    const OutboundMessage message = make_message(data[1]);
    Driver driver(settings, message, bodies[(data[1] >> 4) & 0x03]);
    if ((flags & 0x10) != 0) {
        driver.feed(canned_start(flags), 0);
        driver.check(false, false);
    }
    std::string_view script(reinterpret_cast<const char*>(data) + 2, size - 2);
    // Each record consumes at least one octet.
    while (!script.empty()) {
        const auto operation = static_cast<std::uint8_t>(script[0]);
        script.remove_prefix(1);
        const State before = driver.session().state();
        const bool was_over = before == State::closed || before == State::failed;
        const bool was_due = driver.session().body_due();
        switch (operation % 8) {
            case 0:
            case 1:
            case 2: {
                const std::size_t length =
                    script.empty() ? 0 : static_cast<std::uint8_t>(script[0]);
                script.remove_prefix(script.empty() ? 0 : 1);
                const std::string_view bytes = script.substr(0, length);
                script.remove_prefix(bytes.size());
                driver.feed(bytes, operation % 8);
                break;
            }
            case 3:
                driver.send();
                break;
            case 4: {
                const std::size_t length =
                    script.empty() ? 255 : static_cast<std::uint8_t>(script[0]);
                script.remove_prefix(script.empty() ? 0 : 1);
                if ((operation & 0x80) != 0) {
                    driver.body_failed((length & 1) != 0);
                } else {
                    driver.body_piece(length);
                }
                break;
            }
            case 5:
                if (before == State::tls_needed) {
                    if ((operation & 0x80) != 0) {
                        driver.session().tls_failed("handshake failed");
                    } else {
                        driver.session().tls_established();
                    }
                }
                break;
            case 6:
                driver.session().quit();
                break;
            case 7:
                driver.session().connection_lost("reset by peer");
                break;
        }
        driver.check(was_over, was_due);
    }
    // The connection ends: every transaction must have its result now.
    const State state = driver.session().state();
    const bool was_over = state == State::closed || state == State::failed;
    driver.session().connection_lost("end of input");
    driver.check(was_over, false);
    const State final_state = driver.session().state();
    FUZZ_CHECK(final_state == State::closed || final_state == State::failed);
    return 0;
}
