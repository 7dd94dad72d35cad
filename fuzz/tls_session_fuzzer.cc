// libFuzzer harness: a server-side TLS stream (tls::Stream over a tls::Session) fed arbitrary
// bytes as the client's ciphertext, in pieces. It must never crash, never hand out plaintext
// before a handshake it could not have finished, report its end at most once, and keep its
// buffers within their limits.
//
// The first input byte chooses the mode and the piece size. Mode 0: the bytes are the whole
// conversation (a ClientHello parser, record layer and alert handling facing garbage records).
// Mode 1: a real client first completes a handshake through memory, then the bytes follow as
// if the client had sent them (records with bad MACs, lengths, types and versions inside an
// established session). The certificate is made once, in a scratch folder, at start-up.
//
// Untrusted bytes: all of them. Threads: one.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "relay/base/assert.h"
#include "relay/tls/certificate.h"
#include "relay/tls/context.h"
#include "relay/tls/session.h"
#include "relay/tls/stream.h"

namespace {

using namespace relay;

class Handler final : public tls::StreamHandler {
  public:
    void on_tls_established() override { ++established; }
    void on_tls_plaintext(std::span<char> plaintext) override {
        RELAY_ASSERT(established == 1 && !plaintext.empty());
        RELAY_ASSERT(plaintext.size() <= tls::plaintext_bytes_max);
        plaintext_bytes += plaintext.size();
    }
    void on_tls_ended(tls::State state, std::string_view reason) override {
        RELAY_ASSERT(ended == 0);
        RELAY_ASSERT(state == tls::State::closed || state == tls::State::failed);
        RELAY_ASSERT(state == tls::State::closed ? reason.empty() : !reason.empty());
        for (char octet : reason) {
            RELAY_ASSERT(octet >= 0x20 && octet < 0x7F);  // one printable line for the log
        }
        ++ended;
    }

    int established = 0;
    int ended = 0;
    std::size_t plaintext_bytes = 0;
};

struct Contexts {
    std::unique_ptr<tls::Context> server;
    std::unique_ptr<tls::Context> client;
};

const Contexts& contexts() {
    static const Contexts made = [] {
        RELAY_ASSERT(tls::initialize());
        char folder[] = "/tmp/relay-tls-fuzz.XXXXXX";
        RELAY_ASSERT(::mkdtemp(folder) != nullptr);
        std::string key = std::string(folder) + "/key.pem";
        std::string cert = std::string(folder) + "/cert.pem";
        RELAY_ASSERT(tls::generate_self_signed("fuzz.test", key, cert, 2));
        tls::ServerConfig server;
        server.certificate_chain_path = cert;
        server.private_key_path = key;
        tls::ClientConfig client;
        client.verify = tls::Verify::none;
        Contexts result;
        result.server =
            std::make_unique<tls::Context>(std::move(tls::Context::server(server).value()));
        result.client =
            std::make_unique<tls::Context>(std::move(tls::Context::client(client).value()));
        return result;
    }();
    return made;
}

// Completes a handshake between `server` and a fresh client session; returns false if it did
// not finish (it always should).
bool handshake(tls::Stream& server, std::string& server_wire) {
    tls::Session client = tls::Session::client(*contexts().client, "fuzz.test").value();
    for (int round = 0; round < 50 && !server.established(); ++round) {
        (void)client.handshake();
        std::span<const std::byte> hello = client.output();
        std::string bytes(reinterpret_cast<const char*>(hello.data()), hello.size());
        client.consume_output(hello.size());
        server.receive(std::span<const char>(bytes.data(), bytes.size()));
        std::size_t fed = client.feed(std::as_bytes(std::span<const char>(server_wire)));
        server_wire.erase(0, fed);
    }
    return server.established();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const Contexts& made = contexts();
    bool after_handshake = (data[0] & 1) != 0;
    std::size_t piece_bytes = data[0] >> 1;  // 0: everything in one receive
    std::string wire;
    Handler handler;
    tls::Stream stream(tls::Session::server(*made.server).value(), wire, handler);
    stream.start();
    RELAY_ASSERT(wire.empty());  // a server speaks only after the ClientHello
    if (after_handshake) {
        RELAY_ASSERT(handshake(stream, wire));
        wire.clear();
    }
    std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::size_t step = piece_bytes == 0 ? input.size() : piece_bytes;
    for (std::size_t offset = 0; offset < input.size(); offset += step) {
        std::size_t take = std::min(step, input.size() - offset);
        stream.receive(std::span<const char>(input.data() + offset, take));
        RELAY_ASSERT(stream.session().buffered_bytes() <=
                     made.server->limits().input_bytes_max +
                         made.server->limits().output_bytes_max);
        // Wire bytes are sent and gone in relayd; here they only accumulate.
        wire.clear();
    }
    if (!after_handshake) {
        // Garbage never completes a handshake: it would need the client's key share and Finished.
        RELAY_ASSERT(handler.plaintext_bytes == 0);
    }
    RELAY_ASSERT(handler.ended <= 1);
    if (handler.ended == 0 && stream.established()) {
        RELAY_ASSERT(stream.write("221 2.0.0 Bye\r\n"));
        stream.close();
    }
    return 0;
}
