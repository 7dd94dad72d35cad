// certificate_test.cc -- generate_self_signed: the files, their modes, what OpenSSL reads in
// them, and the certificate at work as a server certificate and as its own trust anchor.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tls_test_support.h"

namespace relay::tls {
namespace {

using testing::pump_handshake;
using testing::read_file;
using testing::run_command;
using testing::ScratchFolder;

mode_t mode_of(const std::string& path) {
    struct stat status {};
    EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
    return status.st_mode & 07777;
}

std::string command_output(const std::string& command, const ScratchFolder& folder) {
    std::string out = folder.file("command.out");
    run_command(command + " > " + out + " 2>&1");
    return read_file(out);
}

struct Pair {
    Session client;
    Session server;
};

TEST(GenerateSelfSigned, WritesAKeyOnlyItsOwnerReadsAndACertificateOpenSslAccepts) {
    ScratchFolder folder;
    std::string key = folder.file("relay.key"), cert = folder.file("relay.pem");
    ASSERT_TRUE(generate_self_signed("relay.example.net", key, cert, 30));

    EXPECT_EQ(mode_of(key), 0600u);
    EXPECT_EQ(mode_of(cert), 0644u);
    EXPECT_TRUE(read_file(key).starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
    EXPECT_TRUE(read_file(cert).starts_with("-----BEGIN CERTIFICATE-----\n"));

    std::string text = command_output("openssl x509 -in " + cert + " -noout -text", folder);
    EXPECT_NE(text.find("Subject: CN = relay.example.net"), std::string::npos) << text;
    EXPECT_NE(text.find("Issuer: CN = relay.example.net"), std::string::npos) << text;
    EXPECT_NE(text.find("DNS:relay.example.net"), std::string::npos) << text;
    EXPECT_NE(text.find("Signature Algorithm: ecdsa-with-SHA256"), std::string::npos) << text;
    EXPECT_NE(text.find("NIST CURVE: P-256"), std::string::npos) << text;
    EXPECT_NE(text.find("TLS Web Server Authentication"), std::string::npos) << text;
    EXPECT_NE(text.find("CA:FALSE"), std::string::npos) << text;
    // Valid for the days asked, not more.
    EXPECT_EQ(run_command("openssl x509 -in " + cert + " -noout -checkend " +
                          std::to_string(29 * 86400) + " >/dev/null"),
              0);
    EXPECT_EQ(run_command("openssl x509 -in " + cert + " -noout -checkend " +
                          std::to_string(31 * 86400) + " >/dev/null"),
              1);
    // OpenSSL takes it as its own trust anchor, for its host name only.
    EXPECT_EQ(run_command("openssl verify -CAfile " + cert +
                          " -verify_hostname relay.example.net " + cert + " >/dev/null 2>&1"),
              0);
    EXPECT_NE(run_command("openssl verify -CAfile " + cert + " -verify_hostname other.example " +
                          cert + " >/dev/null 2>&1"),
              0);
    // The key is the certificate's.
    EXPECT_EQ(command_output("openssl pkey -in " + key + " -pubout", folder),
              command_output("openssl x509 -in " + cert + " -noout -pubkey", folder));
}

TEST(GenerateSelfSigned, ServesAsServerCertificateAndAsTheClientsOnlyTrustAnchor) {
    ScratchFolder folder;
    std::string key = folder.file("k.pem"), cert = folder.file("c.pem");
    ASSERT_TRUE(generate_self_signed("smtp.relay.test", key, cert, 1));

    ServerConfig server_config;
    server_config.certificate_chain_path = cert;
    server_config.private_key_path = key;
    auto server_ctx = Context::server(server_config);
    ASSERT_TRUE(server_ctx) << server_ctx.error().message;
    ClientConfig client_config;
    client_config.verify = Verify::required;
    client_config.ca_file = cert;
    auto client_ctx = Context::client(client_config);
    ASSERT_TRUE(client_ctx) << client_ctx.error().message;

    auto make = [&](std::string_view name) {
        auto client = Session::client(*client_ctx, name);
        auto server = Session::server(*server_ctx);
        EXPECT_TRUE(client && server);
        return Pair{std::move(client).value(), std::move(server).value()};
    };
    Pair matching = make("smtp.relay.test");
    ASSERT_TRUE(pump_handshake(matching.client, matching.server))
        << matching.client.failure_reason();
    EXPECT_TRUE(matching.client.peer_verified());
    EXPECT_EQ(matching.client.peer_common_name(), "smtp.relay.test");

    Pair wrong = make("mail.relay.test");
    EXPECT_FALSE(pump_handshake(wrong.client, wrong.server));
    EXPECT_EQ(wrong.client.state(), State::failed);
    EXPECT_EQ(wrong.client.failure_reason(),
              "certificate verify failed: host name mismatch (depth 0, CN=smtp.relay.test)");
}

TEST(GenerateSelfSigned, ALongHostNameGoesInTheAltNameOnly) {
    ScratchFolder folder;
    std::string name = std::string(40, 'a') + "." + std::string(40, 'b') + ".example";
    std::string key = folder.file("k.pem"), cert = folder.file("c.pem");
    ASSERT_TRUE(generate_self_signed(name, key, cert, 1));
    std::string text = command_output("openssl x509 -in " + cert + " -noout -text", folder);
    EXPECT_NE(text.find("DNS:" + name), std::string::npos) << text;
    EXPECT_EQ(text.find("CN = "), std::string::npos) << text;
    EXPECT_EQ(run_command("openssl verify -CAfile " + cert + " -verify_hostname " + name + " " +
                          cert + " >/dev/null 2>&1"),
              0);
}

TEST(GenerateSelfSigned, ReplacesAnExistingKeyAndTightensItsMode) {
    ScratchFolder folder;
    std::string key = folder.file("k.pem"), cert = folder.file("c.pem");
    ASSERT_EQ(run_command("echo old > " + key + " && chmod 0644 " + key), 0);
    ASSERT_TRUE(generate_self_signed("relay.test", key, cert, 1));
    EXPECT_EQ(mode_of(key), 0600u);
    EXPECT_TRUE(read_file(key).starts_with("-----BEGIN EC PRIVATE KEY-----"));
    std::string first = read_file(cert);
    ASSERT_TRUE(generate_self_signed("relay.test", key, cert, 1));
    EXPECT_NE(read_file(cert), first);  // a new key and serial every time
    // No temporary files left behind.
    EXPECT_EQ(command_output("ls " + folder.file(""), folder), "c.pem\ncommand.out\nk.pem\n");
}

TEST(GenerateSelfSigned, RefusesBadInputAndWritesNothing) {
    ScratchFolder folder;
    std::string key = folder.file("k.pem"), cert = folder.file("c.pem");
    const std::string bad_names[] = {"",
                                     "-relay.test",
                                     "relay-.test",
                                     "relay..test",
                                     "relay.test.",
                                     "relay test",
                                     "relay_test.example",
                                     "relay.test\r\n",
                                     std::string(64, 'a') + ".test",
                                     std::string(250, 'a') + ".test"};
    for (const std::string& name : bad_names) {
        Status status = generate_self_signed(name, key, cert, 1);
        ASSERT_FALSE(status) << name;
        EXPECT_TRUE(status.error().message.starts_with("invalid host name for a certificate"));
        EXPECT_EQ(status.error().message.find('\r'), std::string::npos);
    }
    EXPECT_FALSE(generate_self_signed("relay.test", key, cert, 0));
    EXPECT_FALSE(generate_self_signed("relay.test", key, cert, certificate_days_max + 1));
    EXPECT_EQ(read_file(key), "");
    EXPECT_EQ(read_file(cert), "");

    Status unwritable = generate_self_signed("relay.test", folder.file("absent/k.pem"),
                                             folder.file("absent/c.pem"), 1);
    ASSERT_FALSE(unwritable);
    EXPECT_NE(unwritable.error().message.find(folder.file("absent/k.pem")), std::string::npos)
        << unwritable.error().message;
}

}  // namespace
}  // namespace relay::tls
