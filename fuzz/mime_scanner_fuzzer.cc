// mime_scanner_fuzzer.cc -- libFuzzer harness for the MIME charset scanner.
//
// Untrusted bytes: the whole input. Checks that the scanner never crashes, that its verdict does
// not depend on how the message is split (one piece, or three pieces at fuzzer-chosen places:
// the same refusal, at the same offset, with the same charset and place, and the same place for
// other refusals), and what a refusal promises: a charset refusal names a charset that is not
// accepted and a place, in printable ASCII of bounded length (it goes into an SMTP reply), and
// nothing is accepted past the refusal.
//
// Input layout: [depth byte][cut, 2][cut, 2][message bytes]. The depth limit is 1 + byte % 8;
// the field limit is 64 + 16 * (byte >> 3) octets, so that its refusal is reached too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/message/mime_scanner.h"

namespace {

using relay::message::MimeLimits;
using relay::message::MimeScanner;
using relay::message::MimeVerdict;

void check(bool condition) {
    if (!condition) {
        std::abort();
    }
}

struct Run {
    MimeVerdict verdict = MimeVerdict::accepted;
    std::size_t accepted = 0;  // bytes taken before the refusal (all of them if none)
    std::string charset;
    std::string where;
    std::string location;
};

Run scan(const MimeLimits& limits, std::string_view message, std::size_t first_cut,
         std::size_t second_cut) {
    MimeScanner scanner(limits);
    scanner.start();
    Run run;
    const std::string_view pieces[] = {message.substr(0, first_cut),
                                       message.substr(first_cut, second_cut - first_cut),
                                       message.substr(second_cut)};
    bool refused = false;
    for (const std::string_view piece : pieces) {
        if (refused) {
            check(scanner.feed(piece).accepted == 0);
            continue;
        }
        const MimeScanner::Fed fed = scanner.feed(piece);
        check(fed.accepted <= piece.size());
        check(fed.refused || fed.accepted == piece.size());
        run.accepted += fed.accepted;
        refused = fed.refused;
    }
    if (!refused) {
        refused = scanner.finish();
    }
    check(refused == (scanner.refusal().verdict != MimeVerdict::accepted));
    run.verdict = scanner.refusal().verdict;
    run.charset = scanner.refusal().charset;
    run.where = scanner.refusal().where;
    run.location = scanner.location();
    return run;
}

bool printable(std::string_view text) {
    return std::ranges::all_of(text, [](char octet) {
        const auto value = static_cast<unsigned char>(octet);
        return value >= 0x20 && value < 0x7F;
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 5) {
        return 0;
    }
    MimeLimits limits;
    limits.depth_max = 1 + data[0] % 8;
    limits.field_bytes_max = 64 + 16 * (data[0] >> 3);
    const std::string_view message(reinterpret_cast<const char*>(data + 5), size - 5);
    std::size_t first = (data[1] | data[2] << 8) % (message.size() + 1);
    std::size_t second = (data[3] | data[4] << 8) % (message.size() + 1);
    if (first > second) {
        std::swap(first, second);
    }
    const Run whole = scan(limits, message, message.size(), message.size());
    const Run split = scan(limits, message, first, second);
    check(whole.verdict == split.verdict && whole.accepted == split.accepted &&
          whole.charset == split.charset && whole.where == split.where &&
          whole.location == split.location);
    if (whole.verdict == MimeVerdict::accepted) {
        check(whole.accepted == message.size() && whole.where.empty());
        return 0;
    }
    check(!whole.where.empty() && whole.where.size() <= 600 && printable(whole.where));
    check(whole.charset.size() <= 64 && printable(whole.charset));
    if (whole.verdict == MimeVerdict::charset && whole.charset.size() < 64 &&
        whole.charset.find('?') == std::string::npos) {
        check(!relay::message::is_accepted_charset(whole.charset));
    }
    return 0;
}
