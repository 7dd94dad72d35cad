// libFuzzer harness: a whole SMTP server session, fed arbitrary client bytes in arbitrary
// pieces. Must never crash, and every byte the server writes must be a well-formed reply line.
//
// The first input byte chooses the settings (limits, bare line ending mode); the rest is split
// at points taken from the input itself. Commits succeed or fail alternately, sometimes only
// after more input has arrived (as when the spool's fdatasync is slow). With STARTTLS offered
// (the high bit of the second byte), a STARTTLS is followed at once by tls_established(), as a
// driver's finished handshake would.
#include <cstddef>
#include <cstdint>
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
    std::uint8_t step = data[1] == 0 ? 1 : data[1];
    settings.starttls = (step & 0x80) != 0;
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
                session.commit_done(std::nullopt, "fuzz");
            } else {
                session.commit_done(std::string("ID") + std::to_string(commits));
            }
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
    session.timeout();
    check_replies(session.output());
    return 0;
}
