// tls_test_support.h -- what the tls tests share: a scratch folder, certificates, and a pump that
// moves ciphertext between two in-memory sessions.
//
// Test code only. The pump loops are bounded so that a session that stops making progress
// fails the test instead of hanging it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/tls/certificate.h"
#include "relay/tls/context.h"
#include "relay/tls/session.h"

namespace relay::tls::testing {

inline std::span<const std::byte> as_bytes(std::string_view text) {
    return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

inline std::string as_string(std::span<const std::byte> bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A folder under /tmp removed with everything in it when the test ends.
class ScratchFolder {
  public:
    ScratchFolder() {
        std::string pattern = "/tmp/relay-tls-test.XXXXXX";
        char* made = ::mkdtemp(pattern.data());
        EXPECT_NE(made, nullptr);
        path_ = pattern;
    }
    ~ScratchFolder() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchFolder(const ScratchFolder&) = delete;
    ScratchFolder& operator=(const ScratchFolder&) = delete;

    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

  private:
    std::string path_;
};

// Runs a shell command; returns its exit status (-1 if it could not run).
inline int run_command(const std::string& command) {
    int status = std::system(command.c_str());
    return status == -1 ? -1 : WEXITSTATUS(status);
}

inline std::string read_file(const std::string& path) {
    std::string text;
    if (FILE* file = std::fopen(path.c_str(), "rb")) {
        char buffer[4096];
        std::size_t count = 0;
        while ((count = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
            text.append(buffer, count);
        }
        std::fclose(file);
    }
    return text;
}

// A CA and a server certificate it signed, made with the openssl CLI so that the chain does
// not come from the code under test.
struct SignedCertificate {
    std::string ca_cert;
    std::string cert;
    std::string key;
};

inline SignedCertificate make_ca_signed(const ScratchFolder& folder, std::string_view host) {
    SignedCertificate made{folder.file("ca.pem"), folder.file("server.pem"),
                           folder.file("server.key")};
    std::string ca_key = folder.file("ca.key");
    std::string request = folder.file("server.csr");
    std::string extensions = folder.file("server.ext");
    std::string ext_text = "subjectAltName=DNS:" + std::string(host) + ",IP:192.0.2.7" +
                           "\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n";
    if (FILE* file = std::fopen(extensions.c_str(), "w")) {
        std::fputs(ext_text.c_str(), file);
        std::fclose(file);
    }
    std::string quiet = " >/dev/null 2>&1";
    EXPECT_EQ(run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                          " -keyout " +
                          ca_key + " -out " + made.ca_cert + " -subj '/CN=Relay Test CA' -days 2" +
                          quiet),
              0);
    EXPECT_EQ(run_command("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                          " -keyout " +
                          made.key + " -out " + request + " -subj '/CN=" + std::string(host) + "'" +
                          quiet),
              0);
    EXPECT_EQ(run_command("openssl x509 -req -in " + request + " -CA " + made.ca_cert + " -CAkey " +
                          ca_key + " -CAcreateserial -days 2 -extfile " + extensions + " -out " +
                          made.cert + quiet),
              0);
    return made;
}

// Moves what `from` has produced into `to`, as far as `to` takes it. Returns the bytes moved.
inline std::size_t transfer(Session& from, Session& to) {
    std::span<const std::byte> pending = from.output();
    if (pending.empty()) {
        return 0;
    }
    std::size_t taken = to.feed(pending);
    from.consume_output(taken);
    return taken;
}

// Drives both handshakes to their end. True when both are established.
inline bool pump_handshake(Session& client, Session& server) {
    constexpr int rounds_max = 200;
    for (int round = 0; round < rounds_max; ++round) {
        Progress client_progress = client.handshake();
        transfer(client, server);
        Progress server_progress = server.handshake();
        transfer(server, client);
        if (client_progress == Progress::failed || server_progress == Progress::failed) {
            // Let the alert reach the other side, as it would over a socket.
            transfer(client, server);
            transfer(server, client);
            (void)client.handshake();
            (void)server.handshake();
            return false;
        }
        if (client_progress == Progress::done && server_progress == Progress::done &&
            client.output().empty() && server.output().empty()) {
            return true;
        }
    }
    ADD_FAILURE() << "handshake made no progress in " << rounds_max << " rounds";
    return false;
}

// Reads all plaintext `session` can give now into `sink`. Returns the last progress.
inline Progress read_available(Session& session, std::string& sink, std::size_t piece_bytes) {
    std::vector<std::byte> buffer(piece_bytes);
    constexpr int reads_max = 1 << 20;
    for (int i = 0; i < reads_max; ++i) {
        IoResult result = session.read(buffer);
        if (result.progress != Progress::done) {
            return result.progress;
        }
        sink.append(reinterpret_cast<const char*>(buffer.data()), result.bytes);
    }
    ADD_FAILURE() << "read did not stop";
    return Progress::failed;
}

}  // namespace relay::tls::testing
