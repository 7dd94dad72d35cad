// from_addresses_fuzzer.cc -- libFuzzer harness for the From field's domains.
//
// Untrusted bytes: the whole input. Checks that parsing never crashes and gives the same answer
// twice, and what the sender check relies on: at least one domain and no more than the bound;
// each domain non-empty, well-formed UTF-8, with no ASCII upper-case letter, no CFWS, no special
// and no final dot (a domain name: letters, digits, '-', '.' and UTF-8; a domain literal:
// "[" letters, digits, '.', ':', '-' "]"); each domain is written in the input (case aside), so
// none is made up; and a field value unfolded (CRLF before whitespace removed) reads the same.
//
// Input layout: [flags][bytes]. Flags: the low 3 bits + 1 are the mailbox bound; 8 reads the
// bytes as a header block (through the message pass, then the From field lookup), else as one
// field value.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_checks.h"
#include "relay/message/from_addresses.h"
#include "relay/message/message_pass.h"

namespace {

using relay::message::FromAddresses;
using relay::message::FromDomains;
using relay::message::FromRefusal;

using fuzz_checks::check;
using fuzz_checks::well_formed_utf8;

struct NullSink final : relay::message::Sink {
    void append(std::string_view /*bytes*/) override {}
};

bool name_octet(char octet) {
    const auto value = static_cast<unsigned char>(octet);
    return (value >= 'a' && value <= 'z') || (value >= '0' && value <= '9') || octet == '-' ||
           octet == '.' || value >= 0x80;
}

// Inside a returned domain literal: what an address literal holds (RFC 5321 §4.1.3), lower-case.
bool literal_octet(char octet) {
    const auto value = static_cast<unsigned char>(octet);
    return (value >= 'a' && value <= 'z') || (value >= '0' && value <= '9') || octet == '.' ||
           octet == ':' || octet == '-';
}

std::string lowered(std::string_view text) {
    std::string copy(text);
    std::transform(copy.begin(), copy.end(), copy.begin(), [](char octet) {
        return octet >= 'A' && octet <= 'Z' ? static_cast<char>(octet + 32) : octet;
    });
    return copy;
}

void check_domain(std::string_view domain, const std::string& lowered_input) {
    check(!domain.empty());
    check(well_formed_utf8(domain));
    check(lowered_input.find(domain) != std::string::npos);
    if (domain.front() == '[') {
        check(domain.size() >= 3 && domain.back() == ']');
        const std::string_view inside = domain.substr(1, domain.size() - 2);
        check(std::all_of(inside.begin(), inside.end(), literal_octet));
        return;
    }
    check(std::all_of(domain.begin(), domain.end(), name_octet));
    check(domain.front() != '.' && domain.back() != '.');
    check(domain.find("..") == std::string_view::npos);
}

// Each CRLF followed by whitespace removed; the whitespace stays.
std::string unfold(std::string_view text) {
    std::string unfolded;
    for (std::size_t index = 0; index < text.size(); ++index) {
        if (text[index] == '\r' && index + 2 < text.size() && text[index + 1] == '\n' &&
            (text[index + 2] == ' ' || text[index + 2] == '\t')) {
            ++index;
            continue;
        }
        unfolded += text[index];
    }
    return unfolded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const std::uint8_t flags = data[0];
    const std::size_t bound = 1 + (flags & 7);
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    FromAddresses result = FromRefusal::missing;
    FromAddresses again = FromRefusal::missing;
    if ((flags & 8) != 0) {
        relay::message::MessagePass pass(relay::message::PassLimits{});
        pass.start(false);
        std::vector<char> bytes(input.begin(), input.end());
        NullSink sink;
        pass.feed_chunk(std::span<char>(bytes), sink, nullptr);
        pass.finish_chunks(sink, nullptr);
        result = relay::message::from_addresses(pass.headers(), bound);
        again = relay::message::from_addresses(pass.headers(), bound);
    } else {
        result = relay::message::parse_from_value(input, bound);
        again = relay::message::parse_from_value(input, bound);
    }
    check(result.index() == again.index());
    if (const auto* refusal = std::get_if<FromRefusal>(&result)) {
        check(*refusal == std::get<FromRefusal>(again));
        return 0;
    }
    const auto& domains = std::get<FromDomains>(result).domains;
    check(domains == std::get<FromDomains>(again).domains);
    check(!domains.empty() && domains.size() <= bound);
    const std::string lowered_input = lowered(input);
    for (const std::string& domain : domains) {
        check_domain(domain, lowered_input);
    }
    if ((flags & 8) == 0) {
        // Folding changes nothing: the field unfolded (RFC 5322 §2.2.3) reads the same.
        const FromAddresses unfolded = relay::message::parse_from_value(unfold(input), bound);
        check(std::holds_alternative<FromDomains>(unfolded) &&
              std::get<FromDomains>(unfolded).domains == domains);
    }
    return 0;
}
