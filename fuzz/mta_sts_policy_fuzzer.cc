// mta_sts_policy_fuzzer.cc -- libFuzzer harness for the MTA-STS parsers of the sts part.
//
// Untrusted bytes: the whole input, read as a policy file (the HTTPS body), as TXT records
// (split at NUL), and as the text of a saved policy cache. Properties:
//   * no parser crashes or reads out of bounds;
//   * an accepted policy keeps the RFC 8461 bounds (max_age, mx count), its mx patterns are
//     lower case and each matches itself (a wildcard: a host with one more label);
//   * an accepted policy survives the cache's saved form unchanged (round trip);
//   * an accepted TXT id is 1-32 letters and digits.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_checks.h"
#include "relay/sts/policy.h"
#include "relay/sts/policy_cache.h"

namespace {

using fuzz_checks::check;
namespace sts = relay::sts;

void check_policy(std::string_view input) {
    auto policy = sts::parse_policy(input);
    if (!policy) {
        return;
    }
    check(policy->max_age_s <= sts::policy_max_age_s_max);
    check(policy->mx.size() <= sts::policy_mx_max);
    check(policy->mode == sts::Mode::none || !policy->mx.empty());
    for (const std::string& pattern : policy->mx) {
        for (char c : pattern) {
            check(!(c >= 'A' && c <= 'Z'));
        }
        std::string host = pattern.starts_with("*.") ? "mx" + pattern.substr(1) : pattern;
        check(sts::mx_pattern_matches(pattern, host));
    }
    sts::PolicyCache cache(4);
    sts::CachedPolicy entry{"fuzz.example", "id1", *policy, 1, 2};
    cache.put(entry, 0);
    auto loaded = sts::PolicyCache::decode(cache.encode(), 4, 0);
    check(loaded.ok());
    auto found = loaded->find("fuzz.example", 0);
    check(found.has_value() && *found == entry);
}

void check_txt(std::string_view input) {
    std::vector<std::string> records;
    std::size_t start = 0;
    for (std::size_t index = 0; index <= input.size(); ++index) {
        if (index == input.size() || input[index] == '\0') {
            records.emplace_back(input.substr(start, index - start));
            start = index + 1;
        }
    }
    auto id = sts::policy_id_from_txt(records);
    if (!id) {
        return;
    }
    check(!id->empty() && id->size() <= sts::txt_id_chars_max);
    for (char c : *id) {
        check((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    check_policy(input);
    check_txt(input);
    (void)sts::PolicyCache::decode(input, 8, 0);
    return 0;
}
