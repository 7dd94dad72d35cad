// sasl.h -- the SASL pieces of SMTP AUTH (RFC 4954): base64 (RFC 4648 §4), the PLAIN message
// (RFC 4616) and the LOGIN exchange (draft-murchison-sasl-login: "Username:", "Password:").
//
// Pure: strings in, typed results out; no clock, no store. The session drives the exchange and
// hands the credentials to its hooks.
//
// Untrusted bytes: every input comes from a client before it is authenticated. Bounded by the
// command line limit of the session. Credentials are secrets: callers wipe what they hold once
// the decision is made (wipe()), and nothing here logs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay::smtp {

// Strict base64: the standard alphabet, padding required, no whitespace, no bits left over in
// the last character. nullopt for anything else (the client gets 501 5.5.2).
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

struct Credentials {
    std::string username;  // the authentication identity (authcid)
    std::string password;
};

enum class PlainError { malformed, authorization_identity, empty_field };

// RFC 4616: [authzid] NUL authcid NUL passwd. An authorization identity other than the
// authentication identity (acting as someone else) is refused: relay has no proxy rights.
struct PlainResult {
    std::optional<Credentials> credentials;
    PlainError error = PlainError::malformed;
};
PlainResult parse_plain(std::string_view message);

// Overwrites a secret before its memory is released (not optimised away).
void wipe(std::string& secret);
void wipe(Credentials& credentials);

}  // namespace relay::smtp
