// context.h -- TLS contexts: the immutable, per-role configuration that sessions are made from.
//
// A server Context holds relayd's certificate chain and key (inbound STARTTLS, RFC 3207, and
// implicit TLS on port 465, RFC 8314); a client Context holds the peer verification policy and
// the trusted CA store for outbound delivery (opportunistic STARTTLS, RFC 7435; verified TLS when
// a policy requires it, RFC 7672 / RFC 8461). Versions are TLS 1.2 (RFC 5246) and TLS 1.3
// (RFC 8446) only.
//
// Untrusted bytes: none here; the files read are the operator's.
// Threads: create Contexts at start-up or on configuration reload, off the workers (loading the
// system CA store reads some 300 files: about 80 ms). A Context is immutable once made. It may be
// shared by the sessions of several threads: wolfSSL is built thread-safe and locks the context's
// reference count (session create and destroy) and its session-ticket key (each TLS 1.3 handshake).
// One shared server Context lets a client resume its TLS session on any worker, because tickets are
// sealed with a per-context key; one client Context per worker avoids even that lock traffic.
// A Context may be destroyed while sessions made from it still live: each session holds a
// reference to the underlying wolfSSL context.
// Never: block on the network, or change after creation.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "relay/base/result.h"

namespace relay::tls {

// Initializes wolfSSL once per process. Thread-safe and idempotent: every call returns the result
// of the first. The Context factories call it, so calling it first is only needed to fail early.
Status initialize();

enum class Version { tls1_2, tls1_3 };

// How a client treats the server's certificate chain and host name.
enum class Verify {
    none,           // do not verify (peer_verified() is always false)
    opportunistic,  // verify and report the outcome; never fail the handshake on it (RFC 7435)
    required,       // fail the handshake if the chain or the host name does not verify
    // Trust no CA: every certificate then reaches the verify callback, which keeps the chain
    // (Session::peer_chain) for the caller to judge against TLSA records (dane.h); never fails
    // the handshake on it, and peer_verified() stays false. No CA file is loaded.
    dane,
};

// Size of the largest TLS record on the wire: header, 2^14 bytes of payload, and the most
// expansion TLS 1.2 allows (RFC 5246 section 6.2.3); TLS 1.3 allows less (RFC 8446 5.2).
inline constexpr std::size_t record_bytes_max = 5 + 16384 + 2048;

// Per-session buffer bounds. Both buffers are allocated only while they hold bytes, so an idle
// established session costs neither.
struct BufferLimits {
    // Received ciphertext that feed() accepts before the session has consumed it.
    std::size_t input_bytes_max = 16 * 1024;
    // Ciphertext waiting to be sent. write() stops encrypting when the next record would not
    // fit; the handshake flight may be taken in several drains.
    std::size_t output_bytes_max = 32 * 1024;
};
inline constexpr std::size_t input_bytes_min = 512;
inline constexpr std::size_t output_bytes_min = record_bytes_max + 1024;
inline constexpr std::size_t buffer_bytes_limit = 16 * 1024 * 1024;

struct ServerConfig {
    std::string certificate_chain_path;  // PEM: the server certificate, then intermediates
    std::string private_key_path;        // PEM: the matching private key (EC or RSA)
    Version version_min = Version::tls1_2;
    Version version_max = Version::tls1_3;
    BufferLimits limits;
};

struct ClientConfig {
    Verify verify = Verify::opportunistic;
    // Trusted CAs: a PEM bundle and/or a directory of PEM files. Both empty means the system
    // store (/etc/ssl/certs). Not loaded at all under Verify::none.
    std::string ca_file;
    std::string ca_directory;
    Version version_min = Version::tls1_2;
    Version version_max = Version::tls1_3;
    BufferLimits limits;
};

inline constexpr const char* system_ca_directory = "/etc/ssl/certs";

enum class Side { server, client };

namespace internal {
struct ContextState;
}

class Context {
  public:
    // Errors name the file or setting at fault, e.g. "cannot load TLS private key
    // /etc/relay/key.pem: ...", "TLS private key does not match the certificate".
    static Result<Context> server(const ServerConfig& config);
    static Result<Context> client(const ClientConfig& config);

    Context(Context&&) noexcept;
    Context& operator=(Context&&) noexcept;
    ~Context();

    Side side() const;
    Verify verify() const;  // Verify::none for a server context (client certificates unused)
    const BufferLimits& limits() const;

    // For the session factory only.
    const internal::ContextState& internal_state() const { return *state_; }

  private:
    explicit Context(std::unique_ptr<internal::ContextState> state);
    std::unique_ptr<internal::ContextState> state_;
};

}  // namespace relay::tls
