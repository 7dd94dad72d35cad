// tenant_names.cc -- checking project/resource names, usernames and sender domains.
#include "relay/store/tenant_names.h"

#include <algorithm>

#include "relay/base/ascii.h"

namespace relay::store {
namespace {

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_label(std::string_view label) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
        return false;
    }
    for (char c : label) {
        if (!is_lower_alnum(c) && c != '-') {
            return false;
        }
    }
    return true;
}

}  // namespace

Result<std::string> check_name(std::string_view kind, std::string_view name) {
    bool valid = !name.empty() && name.size() <= name_bytes_max && is_lower_alnum(name.front());
    for (char c : name) {
        valid = valid && (is_lower_alnum(c) || c == '.' || c == '_' || c == '-');
    }
    if (!valid) {
        return make_error(
            ErrorCode::invalid_argument, Blame::client,
            "\"" + std::string(name) + "\" is not a valid " + std::string(kind) +
                " name (1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or "
                "digit)");
    }
    return std::string(name);
}

Result<Username> parse_username(std::string_view username) {
    std::size_t slash = username.find('/');
    if (slash == std::string_view::npos) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "\"" + std::string(username) + "\" is not a resource (PROJECT/NAME)");
    }
    auto project = check_name("project", username.substr(0, slash));
    if (!project) {
        return project.error();
    }
    auto name = check_name("resource", username.substr(slash + 1));
    if (!name) {
        return name.error();
    }
    return Username{std::move(project.value()), std::move(name.value())};
}

Result<std::string> check_domain(std::string_view domain) {
    std::string lower;
    lower.reserve(domain.size());
    for (char c : domain) {
        lower += ascii_lower(c);
    }
    if (!lower.empty() && lower.back() == '.') {
        lower.pop_back();  // the root label: example.com. is example.com
    }
    bool valid = !lower.empty() && lower.size() <= 253 && lower.find('.') != std::string::npos;
    std::size_t start = 0;
    while (valid && start <= lower.size()) {
        std::size_t dot = lower.find('.', start);
        std::size_t end = dot == std::string::npos ? lower.size() : dot;
        valid = is_label(std::string_view(lower).substr(start, end - start));
        start = end + 1;
    }
    if (!valid) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "\"" + std::string(domain) +
                              "\" is not a valid domain (labels of a-z, 0-9 and '-', at least two; "
                              "international names as xn-- A-labels)");
    }
    return lower;
}

Result<std::string> check_return_path(std::string_view address) {
    std::size_t at = address.rfind('@');
    auto refused = [&](const std::string& why) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "\"" + std::string(address) + "\" is not a valid return path: " + why);
    };
    if (at == std::string_view::npos || address.size() > 254) {
        return refused("it must be LOCAL@DOMAIN, at most 254 octets");
    }
    std::string_view local = address.substr(0, at);
    bool local_valid = !local.empty() && local.size() <= 64 && local.front() != '.' &&
                       local.back() != '.' && local.find("..") == std::string_view::npos;
    for (char c : local) {
        local_valid = local_valid && c > ' ' && c < 127 &&
                      std::string_view("<>()[]\\,;:@\"").find(c) == std::string_view::npos;
    }
    if (!local_valid) {
        return refused("the local part must be 1 to 64 octets of a dot-atom");
    }
    auto domain = check_domain(address.substr(at + 1));
    if (!domain) {
        return refused(domain.error().message);
    }
    return std::string(local) + "@" + domain.value();
}

Result<std::string> check_dkim_selector(std::string_view selector) {
    std::string lower;
    lower.reserve(selector.size());
    for (char c : selector) {
        lower += ascii_lower(c);
    }
    bool valid = !lower.empty() && lower.size() <= 253;
    std::size_t start = 0;
    while (valid && start <= lower.size()) {
        std::size_t dot = lower.find('.', start);
        std::size_t end = dot == std::string::npos ? lower.size() : dot;
        std::string_view label = std::string_view(lower).substr(start, end - start);
        valid = !label.empty() && label.size() <= 63 &&
                std::all_of(label.begin(), label.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
                });
        start = end + 1;
    }
    if (!valid) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "\"" + std::string(selector) +
                              "\" is not a valid DKIM selector (labels of a-z, 0-9, '-' and '_', "
                              "separated by dots)");
    }
    return lower;
}

}  // namespace relay::store
