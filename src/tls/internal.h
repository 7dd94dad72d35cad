// internal.h -- what the tls part's files share and nobody else sees: the context's state and
// the wolfSSL error-to-text mapping.
//
// Untrusted bytes: none. Threads: any. Never: include this from outside src/tls.
#pragma once

// wolfssl/options.h must come before any other wolfSSL header.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include <string>
#include <string_view>

#include "relay/tls/context.h"

namespace relay::tls::internal {

struct ContextState {
    ContextState() = default;
    ContextState(const ContextState&) = delete;
    ContextState& operator=(const ContextState&) = delete;
    ~ContextState();

    WOLFSSL_CTX* context = nullptr;  // owned reference; sessions hold their own
    Side side = Side::server;
    Verify verify = Verify::none;
    BufferLimits limits;
};

// A wolfSSL or wolfCrypt error code as a short phrase ("record layer version error").
std::string error_text(int error_code);

// Why a certificate did not verify, for the codes the verify callback sees.
std::string verify_error_text(int error_code);

// Keeps printable ASCII, replaces anything else with '?', cuts at length_max.
std::string printable(std::string_view text, std::size_t length_max);

}  // namespace relay::tls::internal
