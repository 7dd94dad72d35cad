// header.cc -- PROXY protocol v1 and v2 header parsing (see header.h for the forms).
//
// Untrusted bytes: everything. Thread: any (pure). Standard: HAProxy's doc/proxy-protocol.txt,
// sections 2.1 (v1) and 2.2 (v2).
// Never: read past `input`, allocate, or accept a partial header.
#include "relay/proxy/header.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "relay/base/assert.h"

namespace relay::proxy {
namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::uint8_t v2_version = 0x2;
constexpr std::uint8_t v2_command_local = 0x0;
constexpr std::uint8_t v2_command_proxy = 0x1;
constexpr std::uint8_t v2_family_unspec = 0x00;
constexpr std::uint8_t v2_family_tcp4 = 0x11;
constexpr std::uint8_t v2_family_tcp6 = 0x21;
constexpr std::size_t v2_tcp4_bytes = 4 + 4 + 2 + 2;
constexpr std::size_t v2_tcp6_bytes = 16 + 16 + 2 + 2;
constexpr std::size_t v2_extension_fixed_bytes = 3;  // type, 16-bit length
constexpr std::size_t port_digits_max = 5;
static_assert(v2_signature.size() == 12);
static_assert(v2_fixed_bytes + v2_tcp6_bytes < header_bytes_max_min);
static_assert(v1_header_bytes_max < header_bytes_max_min);

Malformed malformed(std::string_view reason) {
    return Malformed{reason};
}

std::uint16_t big_endian_16(std::string_view bytes, std::size_t offset) {
    return static_cast<std::uint16_t>(static_cast<std::uint8_t>(bytes[offset]) << 8 |
                                      static_cast<std::uint8_t>(bytes[offset + 1]));
}

// A port in v1: decimal, 0-65535, no sign and no leading zero (the specification's form).
std::optional<std::uint16_t> v1_port(std::string_view text) {
    if (text.empty() || text.size() > port_digits_max || (text.size() > 1 && text[0] == '0')) {
        return std::nullopt;
    }
    std::uint32_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

// A v1 address in the family its protocol word names; inet_pton's forms (dotted quad without
// leading zeros, RFC 4291 text), nothing else.
std::optional<Endpoint> v1_address(std::string_view text, Family family) {
    char buffer[INET6_ADDRSTRLEN] = {};
    if (text.empty() || text.size() >= sizeof buffer) {
        return std::nullopt;
    }
    std::memcpy(buffer, text.data(), text.size());
    Endpoint endpoint;
    endpoint.family = family;
    int af = family == Family::ipv4 ? AF_INET : AF_INET6;
    if (inet_pton(af, buffer, endpoint.address.data()) != 1) {
        return std::nullopt;
    }
    return endpoint;
}

// Splits "A B C D" at single spaces into exactly `fields.size()` non-empty fields.
bool split_fields(std::string_view line, std::span<std::string_view> fields) {
    for (std::size_t index = 0; index < fields.size(); ++index) {
        std::size_t space = line.find(' ');
        bool last = index + 1 == fields.size();
        if (last != (space == std::string_view::npos)) {
            return false;
        }
        fields[index] = line.substr(0, space);
        if (fields[index].empty()) {
            return false;
        }
        line.remove_prefix(last ? line.size() : space + 1);
    }
    return true;
}

// The text after "PROXY " up to the CRLF.
Parse v1_line(std::string_view line, std::size_t length) {
    Header header;
    header.version = 1;
    header.length = length;
    if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
        return header;  // the rest of an UNKNOWN line is ignored (section 2.1)
    }
    std::string_view fields[5];
    if (!split_fields(line, fields)) {
        return malformed(
            "v1 line is not PROTOCOL SOURCE DESTINATION SOURCE-PORT "
            "DESTINATION-PORT");
    }
    Family family = Family::ipv4;
    if (fields[0] == "TCP6") {
        family = Family::ipv6;
    } else if (fields[0] != "TCP4") {
        return malformed("v1 protocol is not TCP4, TCP6 or UNKNOWN");
    }
    std::optional<Endpoint> source = v1_address(fields[1], family);
    std::optional<Endpoint> destination = v1_address(fields[2], family);
    if (!source || !destination) {
        return malformed("v1 address is not a numeric address of its protocol");
    }
    std::optional<std::uint16_t> source_port = v1_port(fields[3]);
    std::optional<std::uint16_t> destination_port = v1_port(fields[4]);
    if (!source_port || !destination_port) {
        return malformed("v1 port is not a decimal number from 0 to 65535");
    }
    source->port = *source_port;
    destination->port = *destination_port;
    header.endpoints = Endpoints{*source, *destination};
    return header;
}

Parse parse_v1(std::string_view input) {
    std::size_t compared = std::min(input.size(), v1_prefix.size());
    if (input.substr(0, compared) != v1_prefix.substr(0, compared)) {
        return malformed("not a PROXY protocol header");
    }
    // Printable ASCII up to the CR, which the LF must follow: a control octet anywhere sooner
    // ends the matter before the line is complete. The CR of a line of 107 octets is its 106th.
    constexpr std::size_t cr_index_max = v1_header_bytes_max - 2;
    std::size_t scanned = std::min(input.size(), cr_index_max + 1);
    for (std::size_t index = v1_prefix.size(); index < scanned; ++index) {
        char c = input[index];
        if (c == '\r') {
            if (index + 1 == input.size()) {
                return NeedMore{};
            }
            if (input[index + 1] != '\n') {
                return malformed("v1 line has a CR without LF");
            }
            return v1_line(input.substr(v1_prefix.size(), index - v1_prefix.size()), index + 2);
        }
        if (c < 0x20 || c > 0x7e) {
            return malformed("v1 line has a control or non-ASCII octet");
        }
    }
    if (input.size() > cr_index_max) {
        return malformed("v1 line longer than 107 octets");
    }
    return NeedMore{};
}

Endpoint v2_endpoint(std::string_view block, std::size_t address_offset, std::size_t port_offset,
                     Family family) {
    Endpoint endpoint;
    endpoint.family = family;
    std::size_t address_bytes = family == Family::ipv4 ? 4 : 16;
    std::memcpy(endpoint.address.data(), block.data() + address_offset, address_bytes);
    endpoint.port = big_endian_16(block, port_offset);
    return endpoint;
}

// The type-length-value extensions after the addresses: each must fit in what is left.
std::optional<std::size_t> v2_extensions(std::string_view extensions) {
    std::size_t count = 0;
    while (!extensions.empty()) {
        if (extensions.size() < v2_extension_fixed_bytes) {
            return std::nullopt;
        }
        std::size_t value_bytes = big_endian_16(extensions, 1);
        if (extensions.size() - v2_extension_fixed_bytes < value_bytes) {
            return std::nullopt;
        }
        extensions.remove_prefix(v2_extension_fixed_bytes + value_bytes);
        ++count;
    }
    return count;
}

// `block`: what follows the fixed part, exactly as long as its length field says.
Parse v2_addresses(std::uint8_t family_byte, std::string_view block, std::size_t length) {
    Header header;
    header.version = 2;
    header.length = length;
    if (family_byte == v2_family_unspec) {
        return header;  // section 2.2: the block is discarded, the socket's addresses stand
    }
    Family family = family_byte == v2_family_tcp4 ? Family::ipv4 : Family::ipv6;
    std::size_t address_bytes = family == Family::ipv4 ? 4 : 16;
    std::size_t addresses_bytes = family == Family::ipv4 ? v2_tcp4_bytes : v2_tcp6_bytes;
    header.endpoints = Endpoints{
        v2_endpoint(block, 0, 2 * address_bytes, family),
        v2_endpoint(block, address_bytes, 2 * address_bytes + 2, family),
    };
    std::optional<std::size_t> count = v2_extensions(block.substr(addresses_bytes));
    if (!count) {
        return malformed("v2 extension runs past the end of the header");
    }
    header.extension_count = *count;
    return header;
}

Parse parse_v2(std::string_view input, std::size_t header_bytes_max) {
    std::size_t compared = std::min(input.size(), v2_signature.size());
    if (input.substr(0, compared) != v2_signature.substr(0, compared)) {
        return malformed("not a PROXY protocol header");
    }
    if (input.size() < v2_fixed_bytes) {
        return NeedMore{};
    }
    auto version_command = static_cast<std::uint8_t>(input[12]);
    auto family_byte = static_cast<std::uint8_t>(input[13]);
    std::size_t length = v2_fixed_bytes + big_endian_16(input, 14);
    if (version_command >> 4 != v2_version) {
        return malformed("v2 header of an unknown version");
    }
    std::uint8_t command = version_command & 0x0f;
    if (command != v2_command_local && command != v2_command_proxy) {
        return malformed("v2 command is neither LOCAL nor PROXY");
    }
    if (length > header_bytes_max) {
        return malformed("header longer than proxy_header_bytes_max");
    }
    if (command == v2_command_proxy) {
        // Known before the block arrives: no waiting for a header that will be refused.
        std::size_t needed = family_byte == v2_family_tcp4   ? v2_tcp4_bytes
                             : family_byte == v2_family_tcp6 ? v2_tcp6_bytes
                                                             : 0;
        if (family_byte != v2_family_unspec && needed == 0) {
            return malformed("v2 family is not TCP over IPv4 or IPv6");
        }
        if (length - v2_fixed_bytes < needed) {
            return malformed("v2 address block shorter than its family needs");
        }
    }
    if (input.size() < length) {
        return NeedMore{};
    }
    if (command == v2_command_local) {
        Header header;  // section 2.2: the family and the block are ignored
        header.version = 2;
        header.length = length;
        return header;
    }
    return v2_addresses(family_byte, input.substr(v2_fixed_bytes, length - v2_fixed_bytes), length);
}

}  // namespace

Parse parse_header(std::string_view input, std::size_t header_bytes_max) {
    RELAY_ASSERT(header_bytes_max >= header_bytes_max_min);
    if (input.empty()) {
        return NeedMore{};
    }
    if (input[0] == v1_prefix[0]) {
        return parse_v1(input);
    }
    if (input[0] == v2_signature[0]) {
        return parse_v2(input, header_bytes_max);
    }
    return malformed("not a PROXY protocol header");
}

}  // namespace relay::proxy
