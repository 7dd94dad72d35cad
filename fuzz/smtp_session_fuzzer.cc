// libFuzzer harness: a whole SMTP server session, fed arbitrary client bytes in arbitrary
// pieces. Must never crash, and every byte the server writes must be a well-formed reply line.
//
// The first two input bytes choose the settings (limits, bare line ending mode, STARTTLS, AUTH);
// the rest is split at points taken from the input itself. Commits succeed or fail alternately,
// sometimes only after more input has arrived (as when the spool's fdatasync is slow); logins,
// senders and recipients are decided at once or later, as a password hash on another thread
// would be; a message with a recipient starting with 's' is refused at DATA or the first BDAT
// (check_data). With STARTTLS offered, a STARTTLS is followed at once by tls_established(), as a
// driver's finished handshake would.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/base/assert.h"
#include "relay/smtp/server_session.h"

namespace {

using namespace relay;

class Hooks final : public smtp::ServerHooks {
  public:
    struct NullSink final : message::Sink {
        std::size_t bytes = 0;
        void append(std::string_view data) override { bytes += data.size(); }
    };
    message::Sink& open_message(const smtp::Transaction&) override {
        RELAY_ASSERT(!open);
        open = true;
        return sink;
    }
    void commit_message(const smtp::Transaction& transaction,
                        const message::MessagePass&) override {
        RELAY_ASSERT(open && !transaction.recipients.empty());
        pending = true;
    }
    void abandon_message() override { open = false; }
    // Decisions: some now, some later (the loop below answers them), as a store or a shared
    // limiter would.
    smtp::Verdict check_login(const smtp::Credentials& credentials) override {
        RELAY_ASSERT(!credentials.username.empty() && !credentials.password.empty());
        if (credentials.username.size() % 2 == 1) {
            return smtp::Verdict::later();
        }
        if (credentials.password == "pw") {
            return {};
        }
        return smtp::PolicyReply{535, "5.7.8", "Authentication credentials invalid"};
    }
    smtp::Verdict check_sender(const smtp::Transaction& transaction) override {
        return transaction.reverse_path.starts_with('l') ? smtp::Verdict::later() : smtp::Verdict();
    }
    smtp::Verdict check_recipient(const smtp::Transaction&, std::string_view recipient) override {
        return recipient.starts_with('l') ? smtp::Verdict::later() : smtp::Verdict();
    }
    // A message with a recipient starting with 's' is refused as a whole at DATA or the first
    // BDAT, as the stop list's reject_message policy does.
    std::optional<smtp::PolicyReply> check_data(const smtp::Transaction& transaction) override {
        RELAY_ASSERT(!open && !transaction.recipients.empty());
        for (const std::string& recipient : transaction.recipients) {
            if (recipient.starts_with('s')) {
                return smtp::PolicyReply{554, "5.7.1",
                                         "recipients on the stop list: <" + recipient + ">"};
            }
        }
        return std::nullopt;
    }

    NullSink sink;
    bool open = false;
    bool pending = false;
};

// Every line the server writes: three digits, then ' ' or '-' (or nothing), ending in CRLF.
void check_replies(const std::string& output) {
    std::size_t start = 0;
    while (start < output.size()) {
        std::size_t end = output.find("\r\n", start);
        RELAY_ASSERT(end != std::string::npos);
        std::string_view line(output.data() + start, end - start);
        RELAY_ASSERT(line.size() >= 3);
        for (int index = 0; index < 3; ++index) {
            RELAY_ASSERT(line[static_cast<std::size_t>(index)] >= '0' &&
                         line[static_cast<std::size_t>(index)] <= '9');
        }
        RELAY_ASSERT(line.size() == 3 || line[3] == ' ' || line[3] == '-');
        RELAY_ASSERT(line.find('\r') == std::string_view::npos &&
                     line.find('\n') == std::string_view::npos);
        start = end + 2;
    }
}

// A decision that was deferred, answered one way or the other.
void answer(smtp::ServerSession& session, std::size_t offset) {
    if (offset % 3 == 0) {
        session.decide(smtp::PolicyReply{454, "4.7.0", "Temporary failure"});
    } else {
        session.decide(std::nullopt);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    smtp::ServerSettings settings;
    settings.hostname = "fuzz.test";
    std::uint8_t choice = data[0];
    settings.recipients_per_message_max = 1 + (choice & 3);
    settings.errors_per_session_max = 3 + ((choice >> 2) & 7);
    settings.pending_input_bytes_max = 4096;
    settings.pass.message_bytes_max = (choice & 0x20) ? 300 : 0;
    settings.pass.bare_line_endings =
        (choice & 0x40) ? message::BareLineEndings::normalize : message::BareLineEndings::reject;
    settings.pass.line_bytes_max = (choice & 0x80) ? 40 : 998;
    // data[1]: the size of the pieces (low six bits); STARTTLS offered (bit 7); AUTH (bit 6):
    // offered after TLS where STARTTLS is, else always, and then required.
    std::uint8_t step = (data[1] & 0x3F) == 0 ? 1 : (data[1] & 0x3F);
    settings.starttls = (data[1] & 0x80) != 0;
    if ((data[1] & 0x40) != 0) {
        settings.auth = settings.starttls ? smtp::AuthOffer::with_tls : smtp::AuthOffer::always;
        settings.auth_required = true;
    }
    Hooks hooks;
    smtp::ServerSession session(settings, hooks);
    session.start();
    std::vector<char> input(data + 2, data + size);
    std::size_t offset = 0;
    unsigned commits = 0;
    while (offset < input.size() && !session.wants_close()) {
        std::size_t take = std::min<std::size_t>(step + (offset % 7), input.size() - offset);
        session.receive(std::span<char>(input.data() + offset, take));
        offset += take;
        if (hooks.pending && (offset % 3 != 0 || offset >= input.size())) {
            hooks.pending = false;
            hooks.open = false;
            if (++commits % 2 == 0) {
                session.commit_failed(system_error("fuzz", commits % 4 == 0 ? ENOSPC : EIO),
                                      "INCIDENT");
            } else {
                session.commit_done(std::string("ID") + std::to_string(commits));
            }
        }
        if (session.waiting() && !session.committing() && offset % 2 == 0) {
            answer(session, offset);
        }
        check_replies(session.output());
        session.output().clear();
        if (session.wants_tls()) {
            // What a driver does once the handshake is done: the session starts over.
            RELAY_ASSERT(settings.starttls && !session.tls_active());
            session.tls_established();
            RELAY_ASSERT(session.helo().empty() && !session.in_transaction());
        }
    }
    while (session.waiting() && !session.committing()) {
        answer(session, offset++);
    }
    session.timeout();
    check_replies(session.output());
    return 0;
}
