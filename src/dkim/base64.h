// base64.h -- RFC 4648 §4 base64, for the DKIM tags (bh=, b=, p=) and PEM.
//
// Untrusted bytes: decode() reads key files an operator hands in. Thread: any (pure).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace relay::dkim::internal {

std::string base64_encode(std::span<const std::uint8_t> bytes);
// Skips ASCII whitespace (PEM lines, folded tags); nullopt on any other octet outside the
// alphabet, on misplaced padding or on a length that is not a whole number of quanta.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace relay::dkim::internal
