// signature.cc -- the DKIM-Signature field: tags, folding, signing (RFC 6376 §3.5, §3.7, §5).
//
// Untrusted bytes: the header fields (hashed, never parsed beyond their names). Thread: the
// caller's. Never: emit l= or a tag value that could end the field early (d= and s= are checked).
#include "relay/dkim/signature.h"

#include <algorithm>

#include "base64.h"
#include "names.h"
#include "relay/dkim/headers.h"

namespace relay::dkim {
namespace {

constexpr std::size_t line_bytes_max = 78;   // RFC 5322 §2.1.1's SHOULD, CRLF excluded
constexpr std::size_t b_value_room_min = 8;  // b= starts a line rather than end one bare

Error spec_error(std::string message) {
    return make_error(ErrorCode::invalid_argument, Blame::configuration, std::move(message));
}

// Appends pieces to a header field, folding (CRLF SP) before a piece that would make the line
// longer than line_bytes_max, unless the line holds nothing else yet.
class Folder {
  public:
    explicit Folder(std::string start) : text_(std::move(start)), line_bytes_(text_.size()) {}

    // `room_after`: octets that should still fit on the line after the piece.
    void add(std::string_view piece, bool space_before, std::size_t room_after = 0) {
        const std::size_t separator = space_before ? 1 : 0;
        if (line_bytes_ + separator + piece.size() + room_after > line_bytes_max &&
            line_bytes_ > 1) {
            text_ += "\r\n ";
            line_bytes_ = 1;
        } else if (space_before) {
            text_ += ' ';
            ++line_bytes_;
        }
        text_ += piece;
        line_bytes_ += piece.size();
    }

    std::string take() { return std::move(text_); }

  private:
    std::string text_;
    std::size_t line_bytes_;
};

std::string canonicalization_tag(const SignatureSpec& spec) {
    auto name = [](Canonicalization canonicalization) {
        return canonicalization == Canonicalization::simple ? "simple" : "relaxed";
    };
    return std::string("c=") + name(spec.header_canonicalization) + "/" +
           name(spec.body_canonicalization) + ";";
}

Status check_spec(const PrivateKey& key, const SignatureSpec& spec) {
    if (key.algorithm() != spec.algorithm) {
        return spec_error("the key is " + std::string(algorithm_name(key.algorithm())) +
                          ", the signature asks for " +
                          std::string(algorithm_name(spec.algorithm)));
    }
    if (!internal::is_dns_text(spec.domain) || !internal::is_dns_text(spec.selector)) {
        return spec_error(
            "DKIM domain and selector must be DNS names (letters, digits, '-', '.', "
            "'_'), got d=" +
            spec.domain + " s=" + spec.selector);
    }
    if (spec.expiration_s && *spec.expiration_s <= spec.timestamp_s) {
        return spec_error("the DKIM expiration (x=) must be later than the signing time (t=)");
    }
    const bool signs_from =
        std::find(spec.signed_field_names.begin(), spec.signed_field_names.end(), "from") !=
        spec.signed_field_names.end();
    if (!signs_from) {
        return spec_error("a DKIM signature must sign From (RFC 6376 §5.4)");
    }
    for (const std::string& name : spec.signed_field_names) {
        if (name.empty() || name.find_first_of(":; \t\r\n") != std::string::npos) {
            return spec_error("\"" + name + "\" is not a header field name");
        }
    }
    return {};
}

}  // namespace

std::string signature_field_without_b(const SignatureSpec& spec, const Sha256Digest& body_hash) {
    Folder folder("DKIM-Signature:");
    folder.add("v=1;", true);
    folder.add("a=" + std::string(algorithm_name(spec.algorithm)) + ";", true);
    folder.add(canonicalization_tag(spec), true);
    folder.add("d=" + spec.domain + ";", true);
    folder.add("s=" + spec.selector + ";", true);
    folder.add("t=" + std::to_string(spec.timestamp_s) + ";", true);
    if (spec.expiration_s) {
        folder.add("x=" + std::to_string(*spec.expiration_s) + ";", true);
    }
    for (std::size_t index = 0; index < spec.signed_field_names.size(); ++index) {
        std::string piece = index == 0 ? "h=" : "";
        piece += spec.signed_field_names[index];
        piece += index + 1 == spec.signed_field_names.size() ? ";" : ":";
        folder.add(piece, index == 0);
    }
    folder.add("bh=" + internal::base64_encode(body_hash) + ";", true);
    folder.add("b=", true, b_value_room_min);
    return folder.take();
}

std::string complete_signature_field(std::string field_without_b,
                                     std::span<const std::uint8_t> signature) {
    const std::string value = internal::base64_encode(signature);
    const std::size_t last_line = field_without_b.rfind("\r\n");
    std::size_t line_bytes = last_line == std::string::npos
                                 ? field_without_b.size()
                                 : field_without_b.size() - (last_line + 2);
    std::string field = std::move(field_without_b);
    std::size_t offset = 0;
    while (offset < value.size()) {
        if (line_bytes >= line_bytes_max) {
            field += "\r\n ";
            line_bytes = 1;
        }
        const std::size_t take = std::min(value.size() - offset, line_bytes_max - line_bytes);
        field.append(value, offset, take);
        offset += take;
        line_bytes += take;
    }
    field += "\r\n";
    return field;
}

Result<std::string> sign_message(PrivateKey& key, const SignatureSpec& spec,
                                 std::span<const std::string_view> fields,
                                 const Sha256Digest& body_hash) {
    if (auto checked = check_spec(key, spec); !checked) {
        return checked.error();
    }
    std::string field = signature_field_without_b(spec, body_hash);
    const Sha256Digest header_hash =
        signed_headers_hash(fields, spec.signed_field_names, field, spec.header_canonicalization);
    auto signature = key.sign(header_hash);
    if (!signature) {
        return signature.error();
    }
    return complete_signature_field(std::move(field), *signature);
}

}  // namespace relay::dkim
