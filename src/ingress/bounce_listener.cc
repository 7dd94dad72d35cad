// bounce_listener.cc -- the bounce listener's recipient check and report sink (see
// bounce_listener.h).
#include "bounce_listener.h"

#include <algorithm>
#include <array>

#include "relay/base/ascii.h"
#include "relay/bounce/verp.h"
#include "relay/smtp/address.h"
#include "relay/smtp/server_replies.h"

namespace relay::ingress::internal {
namespace {

smtp::PolicyReply refusal(const smtp::SyntaxReply& reply) {
    return smtp::PolicyReply{reply.code, std::string(reply.enhanced), std::string(reply.text)};
}

}  // namespace

std::optional<smtp::PolicyReply> check_bounce_recipient(const config::Config& config,
                                                        std::string_view recipient) {
    std::size_t at = recipient.rfind('@');
    if (at == std::string_view::npos ||
        ascii_lower(recipient.substr(at + 1)) != config.return_path.bounce_domain) {
        return refusal(smtp::server_replies::bounce_wrong_domain);
    }
    std::string local = ascii_lower(recipient.substr(0, at));
    if (local.starts_with(bounce::verp_prefix)) {
        std::array<std::string_view, 1> keys{config.return_path.key};
        if (!bounce::decode_verp(keys, local)) {
            // A token of the right shape whose tag fails was forged or altered; anything else
            // after the prefix is no address of ours at all.
            std::string_view token = std::string_view(local).substr(bounce::verp_prefix.size());
            bool shaped = token.size() == bounce::verp_token_chars &&
                          std::all_of(token.begin(), token.end(), [](char c) {
                              return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
                          });
            return refusal(shaped ? smtp::server_replies::bounce_token_invalid
                                  : smtp::server_replies::bounce_no_such_address);
        }
        return std::nullopt;
    }
    const std::vector<std::string>& complaints = config.bounces.complaint_local_parts;
    if (local == "postmaster" ||
        std::find(complaints.begin(), complaints.end(), local) != complaints.end()) {
        return std::nullopt;
    }
    return refusal(smtp::server_replies::bounce_no_such_address);
}

void ReportSink::append(std::string_view bytes) {
    received_ += bytes.size();
    if (kept_.size() < bytes_max_) {
        std::size_t room = static_cast<std::size_t>(bytes_max_ - kept_.size());
        kept_.append(bytes.substr(0, std::min(room, bytes.size())));
    }
}

}  // namespace relay::ingress::internal
