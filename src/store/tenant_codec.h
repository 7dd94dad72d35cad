// tenant_codec.h -- how tenant records are laid out as LMDB keys and values.
//
//     meta       "format" -> "1";  "generation" -> 8 bytes, little endian
//     projects   NAME -> {"resources_max": N, "domains_max": N, "networks": ["192.0.2.0/24", ...]}
//                (no "networks" when the list is empty, as in records written before it existed)
//     resources  PROJECT/NAME -> {"password_hash": "$argon2id$...", "password_generation": N,
//                                 "domains": ["example.com", ...],
//                                 "stop_policy": "exclude" | "reject_message"}
//                (no "stop_policy" in records written before it existed: exclude)
//     domains    DOMAIN -> PROJECT/NAME   (a domain belongs to one resource: the unique index)
//     dkim_keys  DOMAIN/SELECTOR -> {"algorithm": "rsa-sha256", "canonicalization": "relaxed",
//                                    "created_unix_s": N, "private_key_pem": "-----BEGIN ..."}
//                ('/' is in neither a domain nor a selector, so "DOMAIN/" prefixes one domain's
//                keys)
//
// Values are JSON so that an operator can read them with mdb_dump; the files are the store's
// own, so a value that does not decode is reported as damage, never served.
//
// Thread: any; pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/base/result.h"
#include "relay/store/tenant_records.h"

namespace relay::store::internal {

inline constexpr std::string_view format_version = "1";

std::string encode_generation(std::uint64_t generation);
Result<std::uint64_t> decode_generation(std::string_view bytes);

std::string encode_project(const ProjectRecord& project);
Result<ProjectRecord> decode_project(std::string_view name, std::string_view value);

std::string encode_resource(const ResourceRecord& resource);
Result<ResourceRecord> decode_resource(std::string_view username, std::string_view value);

std::string dkim_key_name(std::string_view domain, std::string_view selector);
std::string encode_dkim_key(const DkimKeyRecord& key);
Result<DkimKeyRecord> decode_dkim_key(std::string_view name, std::string_view value);

}  // namespace relay::store::internal
