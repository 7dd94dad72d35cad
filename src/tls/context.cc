// context.cc -- wolfSSL start-up and the server and client contexts.
//
// Untrusted bytes: none; the certificate, key and CA files are the operator's.
// Threads: initialize() from any thread; the factories at start-up or reload, never on a worker
// (they read files). Contexts are read-only afterwards (see context.h on sharing).
// RFCs: cipher choice after RFC 9325 (TLS recommendations) section 4: AEAD suites with forward
// secrecy only on the server; TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1).
// Never: accept a key that does not match its certificate, or fall back to TLS below 1.2.
#include "relay/tls/context.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "internal.h"

namespace relay::tls {
namespace {

// Server: AEAD with (EC)DHE only, ECDSA first (cheaper to sign), as RFC 9325 section 4.2 asks.
// DHE comes last for the rare TLS 1.2 client without ECDHE.
constexpr const char* server_cipher_list =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

// Client: the same, then the ECDHE CBC suites that older MX hosts still offer. For opportunistic
// delivery any forward-secret encryption beats the cleartext a failed handshake falls back to
// (RFC 7435 section 3).
constexpr const char* client_cipher_list =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";

Status check_limits(const BufferLimits& limits) {
    if (limits.input_bytes_max < input_bytes_min || limits.input_bytes_max > buffer_bytes_limit) {
        return Error{"TLS input buffer limit must be between " + std::to_string(input_bytes_min) +
                     " and " + std::to_string(buffer_bytes_limit) + " bytes"};
    }
    if (limits.output_bytes_max < output_bytes_min ||
        limits.output_bytes_max > buffer_bytes_limit) {
        return Error{"TLS output buffer limit must be between " + std::to_string(output_bytes_min) +
                     " and " + std::to_string(buffer_bytes_limit) + " bytes"};
    }
    return {};
}

// Picks the wolfSSL method for a version range. A fixed-version method when min == max keeps
// wolfSSL from even offering the other version.
Result<WOLFSSL_METHOD*> method_for(Side side, Version version_min, Version version_max) {
    bool server = side == Side::server;
    if (version_min == Version::tls1_3 && version_max == Version::tls1_2) {
        return Error{"TLS minimum version is above the maximum"};
    }
    WOLFSSL_METHOD* method = nullptr;
    if (version_min == Version::tls1_2 && version_max == Version::tls1_2) {
        method = server ? wolfTLSv1_2_server_method() : wolfTLSv1_2_client_method();
    } else if (version_min == Version::tls1_3) {
        method = server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method();
    } else {
        method = server ? wolfSSLv23_server_method() : wolfSSLv23_client_method();
    }
    if (method == nullptr) {
        return Error{"out of memory creating a TLS context"};
    }
    return method;
}

// Opens the file first so that a missing or unreadable file gets the system's words for it,
// which wolfSSL's loaders do not give.
Status check_readable(const std::string& what, const std::string& path) {
    if (path.empty()) {
        return Error{what + ": no file configured"};
    }
    int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
        return system_error("cannot read " + what + " " + path, errno);
    }
    ::close(descriptor);
    return {};
}

Result<std::unique_ptr<internal::ContextState>> make_state(Side side, Version version_min,
                                                           Version version_max,
                                                           const BufferLimits& limits) {
    if (Status status = initialize(); !status) {
        return status.error();
    }
    if (Status status = check_limits(limits); !status) {
        return status.error();
    }
    auto method = method_for(side, version_min, version_max);
    if (!method) {
        return method.error();
    }
    auto state = std::make_unique<internal::ContextState>();
    state->side = side;
    state->limits = limits;
    state->context = wolfSSL_CTX_new(*method);  // takes ownership of the method
    if (state->context == nullptr) {
        return Error{"out of memory creating a TLS context"};
    }
    WOLFSSL_CTX* context = state->context;
    if (version_min == Version::tls1_2 && version_max == Version::tls1_3 &&
        wolfSSL_CTX_SetMinVersion(context, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
        return Error{"cannot set the TLS minimum version"};
    }
    const char* ciphers = side == Side::server ? server_cipher_list : client_cipher_list;
    if (wolfSSL_CTX_set_cipher_list(context, ciphers) != WOLFSSL_SUCCESS) {
        return Error{"cannot set the TLS cipher list"};
    }
    // No session-ID cache: it is process-wide in wolfSSL and written under one lock by every
    // handshake of every worker. Session tickets (RFC 8446 section 4.6.1) need no cache.
    wolfSSL_CTX_set_session_cache_mode(context, WOLFSSL_SESS_CACHE_OFF);
    return state;
}

Status load_trust(WOLFSSL_CTX* context, const ClientConfig& config) {
    if (!config.ca_file.empty()) {
        if (Status status = check_readable("TLS CA file", config.ca_file); !status) {
            return status;
        }
        // An operator's own file must load whole: a bad one would leave nothing trusted.
        int result = wolfSSL_CTX_load_verify_locations(context, config.ca_file.c_str(), nullptr);
        if (result != WOLFSSL_SUCCESS) {
            return Error{"cannot load TLS CA certificates from " + config.ca_file + ": " +
                         internal::error_text(result)};
        }
    }
    std::string directory = config.ca_directory;
    if (config.ca_file.empty() && directory.empty()) {
        directory = system_ca_directory;
    }
    if (directory.empty()) {
        return {};
    }
    if (Status status = check_readable("TLS CA directory", directory); !status) {
        return status;
    }
    // A CA directory holds each CA several times over (file, hash link, bundle) and files that
    // are not certificates at all: skip what does not load rather than fail on it.
    int result = wolfSSL_CTX_load_verify_locations_ex(
        context, nullptr, directory.c_str(),
        WOLFSSL_LOAD_FLAG_IGNORE_ERR | WOLFSSL_LOAD_FLAG_PEM_CA_ONLY);
    if (result != WOLFSSL_SUCCESS) {
        return Error{"cannot load TLS CA certificates from " + directory + ": " +
                     internal::error_text(result)};
    }
    return {};
}

}  // namespace

Status initialize() {
    static std::once_flag once;
    static int result = 0;
    std::call_once(once, [] { result = wolfSSL_Init(); });
    if (result != WOLFSSL_SUCCESS) {
        return Error{"cannot initialize wolfSSL: " + internal::error_text(result)};
    }
    return {};
}

namespace internal {

ContextState::~ContextState() {
    if (context != nullptr) {
        wolfSSL_CTX_free(context);
    }
}

}  // namespace internal

Context::Context(std::unique_ptr<internal::ContextState> state) : state_(std::move(state)) {}
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;
Context::~Context() = default;

Side Context::side() const {
    return state_->side;
}
Verify Context::verify() const {
    return state_->verify;
}
const BufferLimits& Context::limits() const {
    return state_->limits;
}

Result<Context> Context::server(const ServerConfig& config) {
    auto state = make_state(Side::server, config.version_min, config.version_max, config.limits);
    if (!state) {
        return state.error();
    }
    WOLFSSL_CTX* context = (*state)->context;
    if (Status status = check_readable("TLS certificate", config.certificate_chain_path); !status) {
        return status.error();
    }
    if (Status status = check_readable("TLS private key", config.private_key_path); !status) {
        return status.error();
    }
    int result =
        wolfSSL_CTX_use_certificate_chain_file(context, config.certificate_chain_path.c_str());
    if (result != WOLFSSL_SUCCESS) {
        return Error{"cannot load TLS certificate " + config.certificate_chain_path + ": " +
                     internal::error_text(result)};
    }
    result = wolfSSL_CTX_use_PrivateKey_file(context, config.private_key_path.c_str(),
                                             WOLFSSL_FILETYPE_PEM);
    if (result != WOLFSSL_SUCCESS) {
        return Error{"cannot load TLS private key " + config.private_key_path + ": " +
                     internal::error_text(result)};
    }
    if (wolfSSL_CTX_check_private_key(context) != WOLFSSL_SUCCESS) {
        return Error{"TLS private key " + config.private_key_path +
                     " does not match the certificate " + config.certificate_chain_path};
    }
    // Client certificates are not used: SMTP clients authenticate with AUTH.
    wolfSSL_CTX_set_verify(context, WOLFSSL_VERIFY_NONE, nullptr);
    (*state)->verify = Verify::none;
    return Context(std::move(*state));
}

Result<Context> Context::client(const ClientConfig& config) {
    auto state = make_state(Side::client, config.version_min, config.version_max, config.limits);
    if (!state) {
        return state.error();
    }
    WOLFSSL_CTX* context = (*state)->context;
    (*state)->verify = config.verify;
    if (config.verify == Verify::none) {
        wolfSSL_CTX_set_verify(context, WOLFSSL_VERIFY_NONE, nullptr);
        return Context(std::move(*state));
    }
    if (config.verify != Verify::dane) {
        if (Status status = load_trust(context, config); !status) {
            return status.error();
        }
    }
    // The session installs the callback that records the outcome and, for opportunistic, lets
    // the handshake go on.
    wolfSSL_CTX_set_verify(context, WOLFSSL_VERIFY_PEER, nullptr);
    return Context(std::move(*state));
}

}  // namespace relay::tls
