// token.cc -- admin tokens: 32 bytes from getrandom(2), SHA-256 by wolfCrypt.
//
// Thread: any. Never logs a token.
#include "relay/admin/token.h"

#include <sys/random.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <array>
#include <cerrno>
#include <cstdint>

namespace relay::admin {
namespace {

constexpr std::size_t token_bytes = 32;
constexpr std::string_view token_prefix = "rlyadm_";

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(bytes.size() * 2);
    for (std::uint8_t octet : bytes) {
        text += digits[octet >> 4];
        text += digits[octet & 0xf];
    }
    return text;
}

}  // namespace

Result<NewAdminToken> generate_admin_token() {
    std::array<std::uint8_t, token_bytes> random{};
    std::size_t filled = 0;
    while (filled < random.size()) {
        ssize_t got = ::getrandom(random.data() + filled, random.size() - filled, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return system_error("cannot read random bytes for a token", errno);
        }
        filled += static_cast<std::size_t>(got);
    }
    NewAdminToken token;
    token.token = std::string(token_prefix) + hex(random);
    token.sha256_hex = admin_token_sha256_hex(token.token);
    return token;
}

std::string admin_token_sha256_hex(std::string_view token) {
    std::array<std::uint8_t, WC_SHA256_DIGEST_SIZE> digest{};
    wc_Sha256Hash(reinterpret_cast<const byte*>(token.data()), static_cast<word32>(token.size()),
                  digest.data());
    return hex(digest);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char difference = 0;
    for (std::size_t index = 0; index < a.size(); ++index) {
        difference |= static_cast<unsigned char>(a[index] ^ b[index]);
    }
    return difference == 0;
}

bool admin_token_known(std::string_view sha256_hex, std::span<const std::string> known) {
    bool found = false;
    for (const std::string& candidate : known) {
        found = constant_time_equal(sha256_hex, candidate) || found;
    }
    return found;
}

}  // namespace relay::admin
