// password.cc -- Argon2id hashing (libargon2) and password generation (getrandom).
#include "relay/policy/password.h"

#include <argon2.h>
#include <sys/random.h>

#include <array>
#include <cerrno>

namespace relay::policy {
namespace {

constexpr std::size_t salt_bytes = 16;
constexpr std::size_t hash_bytes = 32;

}  // namespace

Status random_bytes(unsigned char* data, std::size_t size) {
    std::size_t filled = 0;
    while (filled < size) {
        ssize_t got = ::getrandom(data + filled, size - filled, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return system_error("cannot read random bytes", errno);
        }
        filled += static_cast<std::size_t>(got);
    }
    return {};
}

Result<std::string> generate_password() {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static_assert(sizeof alphabet - 1 == 64);
    // A password that starts with '-' reads as an option on a command line (swaks
    // --auth-password -x...): drawn again, which costs a twentieth of a bit.
    for (;;) {
        std::array<unsigned char, generated_password_chars> bytes{};
        if (Status random = random_bytes(bytes.data(), bytes.size()); !random) {
            return random.error();
        }
        std::string password;
        password.reserve(bytes.size());
        for (unsigned char byte : bytes) {
            password += alphabet[byte & 63];  // 6 bits of each byte: uniform over the alphabet
        }
        if (password.front() != '-') {
            return password;
        }
    }
}

Result<std::string> hash_password(std::string_view password, const Argon2Parameters& parameters) {
    std::array<unsigned char, salt_bytes> salt{};
    if (Status random = random_bytes(salt.data(), salt.size()); !random) {
        return random.error();
    }
    std::size_t encoded_bytes =
        argon2_encodedlen(parameters.iterations, parameters.memory_kib, parameters.parallelism,
                          salt_bytes, hash_bytes, Argon2_id);
    std::string encoded(encoded_bytes, '\0');
    int code = argon2id_hash_encoded(
        parameters.iterations, parameters.memory_kib, parameters.parallelism, password.data(),
        password.size(), salt.data(), salt.size(), hash_bytes, encoded.data(), encoded.size());
    if (code != ARGON2_OK) {
        return Error{std::string("cannot hash the password: ") + argon2_error_message(code)};
    }
    encoded.resize(encoded.find('\0'));
    return encoded;
}

bool password_matches(const std::string& encoded, std::string_view password) {
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace relay::policy
