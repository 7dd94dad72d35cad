// stop_list.cc -- stop-list reasons and addresses as an operator writes them.
#include "relay/store/stop_list.h"

#include <array>

#include "relay/store/tenant_names.h"
#include "relay/store/tenant_records.h"

namespace relay::store {
namespace {

constexpr std::array<std::string_view, 4> reason_names = {"hard_bounce", "complaint", "unsubscribe",
                                                          "manual"};
// RFC 5321 §4.5.3.1.1.
constexpr std::size_t local_part_bytes_max = 64;

}  // namespace

std::string_view stop_policy_name(StopPolicy policy) {
    return policy == StopPolicy::reject_message ? "reject_message" : "exclude";
}

std::optional<StopPolicy> parse_stop_policy(std::string_view name) {
    if (name == "exclude") {
        return StopPolicy::exclude;
    }
    if (name == "reject_message") {
        return StopPolicy::reject_message;
    }
    return std::nullopt;
}

std::string_view stop_reason_name(StopReason reason) {
    return reason_names.at(static_cast<std::size_t>(reason));
}

std::optional<StopReason> parse_stop_reason(std::string_view name) {
    for (std::size_t index = 0; index < reason_names.size(); ++index) {
        if (reason_names[index] == name) {
            return static_cast<StopReason>(index);
        }
    }
    return std::nullopt;
}

Result<StopAddress> parse_stop_address(std::string_view text) {
    std::size_t at = text.rfind('@');
    if (at == std::string_view::npos) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "\"" + std::string(text) +
                              "\" is not an address (local@domain) or a whole domain (@domain)");
    }
    std::string_view local = text.substr(0, at);
    if (local.size() > local_part_bytes_max) {
        return make_error(ErrorCode::invalid_argument, Blame::client,
                          "\"" + std::string(text) + "\" has a local part longer than 64 octets");
    }
    for (char c : local) {
        auto octet = static_cast<unsigned char>(c);
        if (octet <= ' ' || octet == 0x7f || c == ',' || c == '"' || c == '@') {
            return make_error(ErrorCode::invalid_argument, Blame::client,
                              "\"" + std::string(text) +
                                  "\" has a space, control, comma, quote or @ in its local part");
        }
    }
    auto domain = check_domain(text.substr(at + 1));
    if (!domain) {
        return domain.error();
    }
    return StopAddress{std::move(domain.value()), std::string(local)};
}

}  // namespace relay::store
