// policy_cache.cc -- the bounded per-domain policy cache and its saved text form.
//
// Untrusted bytes: the saved file is ours, but a damaged one must not be served: every line is
// parsed with the same checks as a fetched policy. Thread: any, one at a time.
#include "relay/sts/policy_cache.h"

#include <charconv>
#include <vector>

namespace relay::sts {
namespace {

constexpr std::string_view header = "relay-mta-sts-policies 1";

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    while (!line.empty()) {
        std::size_t start = line.find_first_not_of(' ');
        if (start == std::string_view::npos) {
            break;
        }
        line.remove_prefix(start);
        std::size_t end = line.find(' ');
        out.push_back(line.substr(0, end));
        line = end == std::string_view::npos ? std::string_view() : line.substr(end);
    }
    return out;
}

std::optional<std::uint64_t> number(std::string_view text) {
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// The line is turned back into policy text and parsed: one set of checks for both sources.
std::optional<CachedPolicy> decode_line(std::string_view line) {
    std::vector<std::string_view> fields = words(line);
    if (fields.size() < 6) {
        return std::nullopt;
    }
    CachedPolicy entry;
    entry.domain = std::string(fields[0]);
    entry.id = std::string(fields[1]);
    auto fetched = number(fields[2]);
    auto expires = number(fields[3]);
    if (!fetched || !expires || entry.domain.empty()) {
        return std::nullopt;
    }
    entry.fetched_unix_s = *fetched;
    entry.expires_unix_s = *expires;
    std::string text = "version: STSv1\nmode: " + std::string(fields[4]) +
                       "\nmax_age: " + std::string(fields[5]) + "\n";
    for (std::size_t index = 6; index < fields.size(); ++index) {
        text += "mx: " + std::string(fields[index]) + "\n";
    }
    auto policy = parse_policy(text);
    if (!policy) {
        return std::nullopt;
    }
    entry.policy = std::move(policy.value());
    return entry;
}

}  // namespace

std::optional<CachedPolicy> PolicyCache::find(std::string_view domain,
                                              std::uint64_t now_unix_s) const {
    auto found = entries_.find(domain);
    if (found == entries_.end() || found->second.expires_unix_s <= now_unix_s) {
        return std::nullopt;
    }
    return found->second;
}

void PolicyCache::put(CachedPolicy entry, std::uint64_t now_unix_s) {
    if (entries_max_ == 0) {
        return;
    }
    if (!entries_.contains(entry.domain)) {
        std::erase_if(entries_, [now_unix_s](const auto& item) {
            return item.second.expires_unix_s <= now_unix_s;
        });
        // Bounded by entries_max_: one pass drops one entry per put.
        while (entries_.size() >= entries_max_) {
            auto soonest = entries_.begin();
            for (auto it = entries_.begin(); it != entries_.end(); ++it) {
                if (it->second.expires_unix_s < soonest->second.expires_unix_s) {
                    soonest = it;
                }
            }
            entries_.erase(soonest);
        }
    }
    std::string key = entry.domain;
    entries_[key] = std::move(entry);
}

std::string PolicyCache::encode() const {
    std::string text(header);
    text += "\n";
    for (const auto& [domain, entry] : entries_) {
        text += domain + " " + entry.id + " " + std::to_string(entry.fetched_unix_s) + " " +
                std::to_string(entry.expires_unix_s) + " " +
                std::string(mode_name(entry.policy.mode)) + " " +
                std::to_string(entry.policy.max_age_s);
        for (const std::string& pattern : entry.policy.mx) {
            text += " " + pattern;
        }
        text += "\n";
    }
    return text;
}

Result<PolicyCache> PolicyCache::decode(std::string_view text, std::size_t entries_max,
                                        std::uint64_t now_unix_s) {
    PolicyCache cache(entries_max);
    std::size_t end = text.find('\n');
    if (text.substr(0, end) != header) {
        return Error{"not an MTA-STS policy file (no \"" + std::string(header) + "\" line)", 0,
                     ErrorCode::data_loss};
    }
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    while (!text.empty()) {
        end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        std::optional<CachedPolicy> entry = decode_line(line);
        if (entry && entry->expires_unix_s > now_unix_s) {
            cache.put(std::move(*entry), now_unix_s);
        }
    }
    return cache;
}

}  // namespace relay::sts
