// libFuzzer harness: the SMTP AUTH exchange (RFC 4954) and its SASL pieces.
//
// Untrusted bytes: the whole input, as a client would send it before it is authenticated.
// Checks, besides "no crash": strict base64 has one encoding per value (what decodes re-encodes
// to the same text), encoding round-trips any bytes, a PLAIN message yields a username and a
// password without NULs or nothing, and a session reaches "authenticated" only through a 235
// reply for the one username the hooks accepted.
//
// Input layout: [mode][lines...]. Mode bit 0: LOGIN (else PLAIN); bit 1: the first line is the
// initial response on the AUTH line; bits 2-3: the hooks accept, refuse, or answer later.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/base/assert.h"
#include "relay/smtp/sasl.h"
#include "relay/smtp/server_session.h"

namespace {

using namespace relay;

class Hooks final : public smtp::ServerHooks {
  public:
    struct NullSink final : message::Sink {
        void append(std::string_view) override {}
    };
    message::Sink& open_message(const smtp::Transaction&) override { return sink; }
    void commit_message(const smtp::Transaction&, const message::MessagePass&) override {
        committed = true;
    }
    void abandon_message() override {}
    smtp::Verdict check_login(const smtp::Credentials& credentials) override {
        RELAY_ASSERT(!credentials.username.empty() && !credentials.password.empty());
        last_username = credentials.username;
        switch (mode) {
            case 0:
                return {};
            case 1:
                return smtp::PolicyReply{535, "5.7.8", "Authentication credentials invalid"};
            default:
                return smtp::Verdict::later();
        }
    }

    NullSink sink;
    int mode = 0;
    bool committed = false;
    std::string last_username;
};

void check_sasl_pieces(std::string_view text) {
    if (auto decoded = smtp::decode_base64(text)) {
        RELAY_ASSERT(smtp::encode_base64(*decoded) == text);  // one encoding per value
        smtp::PlainResult plain = smtp::parse_plain(*decoded);
        if (plain.credentials) {
            RELAY_ASSERT(!plain.credentials->username.empty());
            RELAY_ASSERT(!plain.credentials->password.empty());
            RELAY_ASSERT(plain.credentials->username.find('\0') == std::string::npos);
            RELAY_ASSERT(plain.credentials->password.find('\0') == std::string::npos);
        }
    }
    auto round_trip = smtp::decode_base64(smtp::encode_base64(text));
    RELAY_ASSERT(round_trip && *round_trip == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const std::uint8_t mode = data[0];
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    check_sasl_pieces(rest);

    smtp::ServerSettings settings;
    settings.hostname = "fuzz.test";
    settings.auth = smtp::AuthOffer::always;
    settings.auth_required = true;
    Hooks hooks;
    hooks.mode = (mode >> 2) & 3;
    smtp::ServerSession session(settings, hooks);
    session.start();
    std::string input = "EHLO c\r\nAUTH ";
    input += (mode & 1) ? "LOGIN" : "PLAIN";
    input += (mode & 2) ? " " : "\r\n";
    input += rest;
    input += "\r\nMAIL FROM:<a@example.com>\r\n";
    session.receive(std::span<char>(input.data(), input.size()));
    while (session.waiting()) {
        // A message the input went on to send after its login waits for its commit, which a
        // driver reports with commit_done (decide is for logins, senders and recipients).
        if (session.committing()) {
            session.commit_done("ID");
        } else {
            session.decide(std::nullopt);  // a login answered later is accepted
        }
    }
    const std::string& output = session.output();
    if (!session.authenticated_user().empty()) {
        RELAY_ASSERT(output.find("235 2.7.0") != std::string::npos);
        RELAY_ASSERT(session.authenticated_user() == hooks.last_username);
        RELAY_ASSERT(hooks.mode != 1);
    } else {
        RELAY_ASSERT(output.find("235 2.7.0") == std::string::npos);
        // Without a login, MAIL is refused: nothing but 530 (or the session closed first).
        RELAY_ASSERT(output.find("250 2.1.0") == std::string::npos);
    }
    return 0;
}
