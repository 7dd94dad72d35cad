// policy.cc -- the MTA-STS TXT record and policy parsers, and MX pattern matching.
//
// Untrusted bytes: all of them (DNS TXT strings, the HTTPS body). Thread: any (pure).
// RFCs: RFC 8461 §3.1 (sts-text-record), §3.2 (sts-policy-record), §4.1 (MX matching).
// Never: read outside the given views; allocate beyond the bounds in policy.h.
#include "relay/sts/policy.h"

#include <algorithm>
#include <cctype>

#include "relay/base/ascii.h"

namespace relay::sts {
namespace {

std::string_view trim(std::string_view text) {
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (!text.empty() && blank(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && blank(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

std::string_view without_final_dot(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return name;
}

// RFC 8461 §3.2 sts-policy-mx-value: a domain name, optionally "*." in front. Letters, digits,
// hyphens and dots; labels of 1-63 octets; 253 octets in all.
bool valid_mx_pattern(std::string_view pattern) {
    if (pattern.starts_with("*.")) {
        pattern.remove_prefix(2);
    }
    pattern = without_final_dot(pattern);
    if (pattern.empty() || pattern.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (char c : pattern) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
            return false;
        }
        if (++label > 63) {
            return false;
        }
    }
    return label > 0;
}

std::optional<std::uint32_t> parse_max_age(std::string_view value) {
    // sts-policy-max-age-value = 1*10DIGIT
    if (value.empty() || value.size() > 10) {
        return std::nullopt;
    }
    std::uint64_t number = 0;
    for (char c : value) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        number = number * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (number > policy_max_age_s_max) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(number);
}

Error invalid(std::string message) {
    return Error{std::move(message), 0, ErrorCode::invalid_argument, Blame::peer};
}

struct Fields {
    std::optional<std::string_view> version;
    std::optional<std::string_view> mode;
    std::optional<std::string_view> max_age;
    std::vector<std::string_view> mx;
};

// Splits the body into "key: value" lines; the first occurrence of a key counts.
Result<Fields> split_fields(std::string_view text) {
    Fields fields;
    while (!text.empty()) {
        std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.size() > policy_line_bytes_max) {
            return invalid("a line is longer than " + std::to_string(policy_line_bytes_max) +
                           " octets");
        }
        if (trim(line).empty()) {
            continue;
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            return invalid("a line is not \"key: value\"");
        }
        std::string_view key = trim(line.substr(0, colon));
        std::string_view value = trim(line.substr(colon + 1));
        if (key == "version" && !fields.version) {
            fields.version = value;
        } else if (key == "mode" && !fields.mode) {
            fields.mode = value;
        } else if (key == "max_age" && !fields.max_age) {
            fields.max_age = value;
        } else if (key == "mx") {
            if (fields.mx.size() == policy_mx_max) {
                return invalid("more than " + std::to_string(policy_mx_max) + " mx patterns");
            }
            fields.mx.push_back(value);
        }
    }
    return fields;
}

}  // namespace

std::string_view mode_name(Mode mode) {
    switch (mode) {
        case Mode::none:
            return "none";
        case Mode::testing:
            return "testing";
        case Mode::enforce:
            return "enforce";
    }
    return "?";
}

std::vector<std::string> policy_lines(const Policy& policy) {
    std::vector<std::string> lines{"version: STSv1",
                                   "mode: " + std::string(mode_name(policy.mode))};
    for (const std::string& pattern : policy.mx) {
        lines.push_back("mx: " + pattern);
    }
    lines.push_back("max_age: " + std::to_string(policy.max_age_s));
    return lines;
}

Result<Policy> parse_policy(std::string_view text) {
    if (text.size() > policy_bytes_max) {
        return invalid("the policy is larger than " + std::to_string(policy_bytes_max) + " octets");
    }
    auto fields = split_fields(text);
    if (!fields) {
        return fields.error();
    }
    Policy policy;
    if (!fields->version) {
        return invalid("version is missing");
    }
    if (*fields->version != "STSv1") {
        return invalid("version is not STSv1");
    }
    if (!fields->mode) {
        return invalid("mode is missing");
    }
    if (*fields->mode == "enforce") {
        policy.mode = Mode::enforce;
    } else if (*fields->mode == "testing") {
        policy.mode = Mode::testing;
    } else if (*fields->mode == "none") {
        policy.mode = Mode::none;
    } else {
        return invalid("mode is not enforce, testing or none");
    }
    if (!fields->max_age) {
        return invalid("max_age is missing");
    }
    std::optional<std::uint32_t> max_age = parse_max_age(*fields->max_age);
    if (!max_age) {
        return invalid("max_age is not a number of seconds up to " +
                       std::to_string(policy_max_age_s_max));
    }
    policy.max_age_s = *max_age;
    for (std::string_view pattern : fields->mx) {
        if (!valid_mx_pattern(pattern)) {
            return invalid("an mx pattern is not a host name or \"*.\" and a domain");
        }
        policy.mx.push_back(ascii_lower(without_final_dot(pattern)));
    }
    // §3.2: mx is required for enforce and testing; a none policy needs no hosts.
    if (policy.mx.empty() && policy.mode != Mode::none) {
        return invalid("no mx");
    }
    return policy;
}

std::optional<std::string> policy_id_from_txt(const std::vector<std::string>& records) {
    std::optional<std::string_view> chosen;
    for (const std::string& record : records) {
        std::string_view text = record;
        if (!text.starts_with("v=STSv1")) {
            continue;
        }
        if (chosen) {
            return std::nullopt;  // §3.1: more than one record is no policy
        }
        chosen = text;
    }
    if (!chosen) {
        return std::nullopt;
    }
    // sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
    std::string_view rest = *chosen;
    rest.remove_prefix(std::string_view("v=STSv1").size());
    std::optional<std::string> id;
    bool first = true;
    while (!rest.empty()) {
        rest = trim(rest);
        if (rest.empty()) {
            break;
        }
        if (rest.front() != ';') {
            return std::nullopt;
        }
        rest = trim(rest.substr(1));
        if (rest.empty()) {
            break;  // a trailing delimiter
        }
        std::size_t end = rest.find(';');
        std::string_view field = trim(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
        std::size_t equals = field.find('=');
        if (equals == std::string_view::npos || equals == 0) {
            return std::nullopt;
        }
        std::string_view name = field.substr(0, equals);
        std::string_view value = field.substr(equals + 1);
        if (name == "id" && !id) {
            bool valid = !value.empty() && value.size() <= txt_id_chars_max &&
                         std::all_of(value.begin(), value.end(), [](char c) {
                             return std::isalnum(static_cast<unsigned char>(c)) != 0;
                         });
            if (!valid) {
                return std::nullopt;
            }
            id = std::string(value);
        }
        first = false;
    }
    if (first || !id) {
        return std::nullopt;
    }
    return id;
}

bool mx_pattern_matches(std::string_view pattern, std::string_view host) {
    pattern = without_final_dot(pattern);
    host = without_final_dot(host);
    if (pattern.empty() || host.empty()) {
        return false;
    }
    if (!pattern.starts_with("*.")) {
        return equal_ignoring_case(pattern, host);
    }
    // The wildcard stands for exactly the leftmost label of the host.
    std::size_t dot = host.find('.');
    if (dot == std::string_view::npos || dot == 0) {
        return false;
    }
    return equal_ignoring_case(pattern.substr(2), host.substr(dot + 1));
}

bool policy_allows_host(const Policy& policy, std::string_view host) {
    return std::any_of(policy.mx.begin(), policy.mx.end(), [host](const std::string& pattern) {
        return mx_pattern_matches(pattern, host);
    });
}

}  // namespace relay::sts
