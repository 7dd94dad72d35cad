// proxy_header_fuzzer.cc -- libFuzzer harness for the PROXY protocol header parser (proxy part).
//
// Untrusted bytes: everything after the first octet, which picks the bound (so the fuzzer also
// meets headers just over and under it). Properties, checked against the specification's layout
// rather than the parser's own helpers:
//   * a header never claims more than the input or the bound; a v1 header starts "PROXY " and
//     ends with its first CRLF, within 107 octets; a v2 header starts with the signature and is
//     exactly 16 octets plus its length field;
//   * the answer depends only on the header's octets: the header alone gives the same header,
//     and one octet less gives need-more (a header is never taken before it is whole);
//   * need-more is only ever said of less than the bound (what a connection buffers is bounded);
//   * a refusal names its reason.
//
// Input layout: [bound selector][bytes].
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "fuzz_checks.h"
#include "relay/proxy/header.h"

namespace {

using fuzz_checks::check;
using relay::proxy::Header;
using relay::proxy::Malformed;
using relay::proxy::NeedMore;
using relay::proxy::Parse;
using relay::proxy::parse_header;

void check_header(const Header& header, std::string_view input, std::size_t bound) {
    check(header.length > 0 && header.length <= input.size() && header.length <= bound);
    std::string_view bytes = input.substr(0, header.length);
    if (header.version == 1) {
        check(bytes.starts_with("PROXY ") && bytes.ends_with("\r\n"));
        check(bytes.find("\r\n") == bytes.size() - 2);
        check(bytes.size() <= relay::proxy::v1_header_bytes_max);
    } else {
        check(header.version == 2);
        check(bytes.starts_with(relay::proxy::v2_signature));
        check(bytes.size() >= relay::proxy::v2_fixed_bytes);
        std::size_t length =
            static_cast<std::uint8_t>(bytes[14]) << 8 | static_cast<std::uint8_t>(bytes[15]);
        check(bytes.size() == relay::proxy::v2_fixed_bytes + length);
    }
    Parse alone = parse_header(bytes, bound);
    const auto* same = std::get_if<Header>(&alone);
    check(same != nullptr && same->length == header.length && same->version == header.version &&
          same->endpoints == header.endpoints && same->extension_count == header.extension_count);
    check(std::holds_alternative<NeedMore>(parse_header(bytes.substr(0, bytes.size() - 1), bound)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    // 232 to 1252 octets: the config's smallest bound, the default (1024), and around them.
    std::size_t bound = relay::proxy::header_bytes_max_min + std::size_t{data[0]} * 4;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    Parse parse = parse_header(input, bound);
    if (const auto* header = std::get_if<Header>(&parse)) {
        check_header(*header, input, bound);
    } else if (std::holds_alternative<NeedMore>(parse)) {
        check(input.size() < bound);
    } else {
        check(!std::get<Malformed>(parse).reason.empty());
    }
    return 0;
}
