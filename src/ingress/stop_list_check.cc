// stop_list_check.cc -- the stop lists at RCPT and at DATA.
#include "stop_list_check.h"

#include <algorithm>

#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/smtp/server_replies.h"

namespace relay::ingress::internal {
namespace {

smtp::PolicyReply reply_of(const smtp::SyntaxReply& reply, std::string text) {
    return smtp::PolicyReply{reply.code, std::string(reply.enhanced), std::move(text)};
}

std::string_view scope_name(const store::StopMatch& match) {
    return match.global ? "the global list" : "the resource's list";
}

}  // namespace

smtp::Verdict StopListCheck::check_recipient(const smtp::Transaction& transaction,
                                             std::string_view username,
                                             const policy::TenantSnapshot* snapshot,
                                             std::string_view recipient,
                                             std::string_view client_ip) {
    if (transaction.recipients.empty()) {
        listed_.clear();
    }
    if (reader_ == nullptr) {
        return {};
    }
    auto match = reader_->find(username, recipient, unix_ms_now() / 1000);
    if (!match) {
        log::error("client={} user={}: recipient <{}> deferred: {}", client_ip, username, recipient,
                   match.error().message);
        const smtp::SyntaxReply& reply = smtp::server_replies::stop_list_unavailable;
        return reply_of(reply, std::string(reply.text));
    }
    if (!match.value()) {
        return {};
    }
    const store::StopMatch& found = *match.value();
    const store::ResourceRecord* resource =
        snapshot != nullptr && !username.empty() ? snapshot->resource(username) : nullptr;
    store::StopPolicy policy =
        resource != nullptr ? resource->stop_policy : store::StopPolicy::exclude;
    log::info("client={} user={}: recipient <{}> is on {} ({}, {}): {}", client_ip, username,
              recipient, scope_name(found), found.whole_domain ? "whole domain" : "address",
              store::stop_reason_name(found.reason),
              policy == store::StopPolicy::exclude ? "refused" : "the message will be refused");
    if (policy == store::StopPolicy::exclude) {
        return reply_of(smtp::server_replies::recipient_stopped,
                        smtp::server_replies::recipient_stopped_text(recipient));
    }
    if (std::find(listed_.begin(), listed_.end(), recipient) == listed_.end()) {
        listed_.emplace_back(recipient);
    }
    return {};
}

std::optional<smtp::PolicyReply> StopListCheck::check_data(const smtp::Transaction& transaction,
                                                           std::string_view username,
                                                           std::string_view client_ip) const {
    if (listed_.empty() || transaction.recipients.empty()) {
        return std::nullopt;
    }
    std::string named;
    std::size_t count = std::min(listed_.size(), stopped_recipients_named_max);
    for (std::size_t index = 0; index < count; ++index) {
        named += (index == 0 ? "<" : ", <") + listed_[index] + ">";
    }
    log::info("client={} user={}: message from <{}> refused: {} of {} recipients on the stop list",
              client_ip, username, transaction.reverse_path, listed_.size(),
              transaction.recipients.size());
    return reply_of(smtp::server_replies::message_stopped,
                    smtp::server_replies::message_stopped_text(named, listed_.size() - count));
}

}  // namespace relay::ingress::internal
