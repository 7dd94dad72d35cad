// headers.h -- the header side of a DKIM signature: fields, canonical forms, which are signed.
//
// A header field here is the whole field as it will be sent: name, colon, value, folded lines
// and the final CRLF ("Subject: hi\r\n"). The caller hands the fields in message order, top
// first, including any it prepends at delivery (Message-ID:), so what is signed is what is sent.
//
// Untrusted bytes: the header block as the client sent it; any input gives some output.
// Thread: any (pure). Standards: RFC 6376 §3.4.1-3.4.2 (header canonicalization), §5.4 and
// §5.4.2 (choosing the fields, several instances signed bottom-up), §3.5 (h=), §8.15 (signing a
// field once more than it occurs, so that one added later breaks the signature).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/dkim/body_hash.h"

namespace relay::dkim {

// The fields of a header block (the bytes up to the empty line, or all of them), in order.
// A continuation line (starting with SP or HTAB) belongs to the field above it; a first line
// that does not start a field belongs to no field and is dropped.
std::vector<std::string_view> split_header_fields(std::string_view header_block);

// The field's name: the octets before the colon, without whitespace before the colon; empty if
// the field has no colon.
std::string_view field_name(std::string_view field);

// Appends the canonical form of one field: simple keeps it as it is (adding a final CRLF if it
// has none); relaxed lower-cases the name, unfolds, reduces whitespace runs to one SP, drops
// whitespace around the colon and at the end, and ends with CRLF.
void append_canonical_field(std::string& out, std::string_view field,
                            Canonicalization canonicalization);

// The fields the issue lists for signing, lower-case, in h= order, and those signed once more
// than they occur.
std::span<const std::string_view> default_signed_field_names();
std::span<const std::string_view> default_oversigned_field_names();

// The h= list for these fields: each wanted name once per instance present, and each
// oversigned name once more (RFC 6376 §8.15). Names are compared without regard to case and
// written lower-case. Wanted names absent from the fields are left out (unless oversigned).
std::vector<std::string> choose_signed_fields(std::span<const std::string_view> fields,
                                              std::span<const std::string_view> wanted,
                                              std::span<const std::string_view> oversigned);

// SHA-256 of the canonical fields named by `names`, in h= order,
// each name taking the lowest instance not yet taken (§5.4.2), a name with no instance left
// contributing nothing; then the DKIM-Signature field itself with an empty b= value, canonical,
// without its final CRLF (§3.7): the digest the key signs.
Sha256Digest signed_headers_hash(std::span<const std::string_view> fields,
                                 std::span<const std::string> names,
                                 std::string_view signature_field_without_b,
                                 Canonicalization canonicalization);

}  // namespace relay::dkim
