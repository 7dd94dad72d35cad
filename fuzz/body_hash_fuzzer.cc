// body_hash_fuzzer.cc -- libFuzzer harness for the DKIM body hash (dkim part).
//
// Untrusted bytes: the whole input. Checks that the streaming canonicalization never crashes,
// that cutting the body into pieces at fuzzer-chosen places gives the same hash as feeding it
// whole, and that both equal SHA-256 of the body canonicalized in one piece by a reference
// written line by line from RFC 6376 §3.4.3 and §3.4.4.
//
// Input layout: [flags][cut count][cuts, 2 each][body]. Flags: 1 relaxed, else simple.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "../tests/unit/dkim/support.h"  // the RFC 6376 references the unit tests check against
#include "relay/dkim/body_hash.h"

namespace {

using relay::dkim::BodyHasher;
using relay::dkim::Canonicalization;
using relay::dkim::Sha256Digest;
using relay::dkim::test_support::reference_relaxed;
using relay::dkim::test_support::reference_simple;
using relay::dkim::test_support::sha256;

void check(bool condition) {
    if (!condition) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    const Canonicalization canonicalization =
        (data[0] & 1) != 0 ? Canonicalization::relaxed : Canonicalization::simple;
    const std::size_t cut_count = std::min<std::size_t>(data[1], (size - 2) / 2);
    std::vector<std::size_t> cuts;
    for (std::size_t index = 0; index < cut_count; ++index) {
        cuts.push_back(static_cast<std::size_t>(data[2 + 2 * index] << 8 | data[3 + 2 * index]));
    }
    const std::size_t header_bytes = 2 + 2 * cut_count;
    const std::string_view body(reinterpret_cast<const char*>(data) + header_bytes,
                                size - header_bytes);
    for (std::size_t& cut : cuts) {
        cut = body.empty() ? 0 : cut % (body.size() + 1);
    }
    std::sort(cuts.begin(), cuts.end());

    BodyHasher whole(canonicalization);
    whole.body(body);
    const Sha256Digest whole_hash = whole.finish();

    BodyHasher pieces(canonicalization);
    std::size_t position = 0;
    for (const std::size_t cut : cuts) {
        pieces.body(body.substr(position, cut - position));
        position = cut;
    }
    pieces.body(body.substr(position));
    check(pieces.finish() == whole_hash);

    const std::string canonical = canonicalization == Canonicalization::relaxed
                                      ? reference_relaxed(body)
                                      : reference_simple(std::string(body));
    check(whole_hash == sha256(canonical));
    return 0;
}
