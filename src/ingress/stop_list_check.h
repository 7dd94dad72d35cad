// stop_list_check.h -- a session's stop-list decisions: at RCPT for the `exclude` policy, at
// DATA (or the first BDAT) for `reject_message`.
//
// The resource is the logged-in one (its list and its policy); without a login only the global
// list applies, under `exclude`. Lookups go through the worker's StopListReader (one LMDB read
// transaction renewed per lookup: a change made with relayctl counts from the next RCPT); the
// policy comes from the tenant snapshot, so a policy change counts within
// store.refresh_interval_ms.
//
// Thread: the session's worker. Allocates only for a listed recipient (its reply, its log line).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/policy/tenant_snapshot.h"
#include "relay/smtp/server_session.h"
#include "relay/store/stop_list_store.h"

namespace relay::ingress::internal {

// How many listed recipients a reject_message reply names; the rest are counted.
inline constexpr std::size_t stopped_recipients_named_max = 5;

class StopListCheck {
  public:
    // `reader` null: no store, nothing is listed.
    explicit StopListCheck(store::StopListReader* reader) : reader_(reader) {}

    // RCPT: a refusal under exclude (or when the list cannot be read); under reject_message the
    // recipient is accepted and remembered for check_data.
    smtp::Verdict check_recipient(const smtp::Transaction& transaction, std::string_view username,
                                  const policy::TenantSnapshot* snapshot,
                                  std::string_view recipient, std::string_view client_ip);
    // DATA or the first BDAT: 554 naming the listed recipients of this transaction, if any.
    std::optional<smtp::PolicyReply> check_data(const smtp::Transaction& transaction,
                                                std::string_view username,
                                                std::string_view client_ip) const;

  private:
    store::StopListReader* reader_;
    // Recipients accepted under reject_message although listed, in RCPT order. A transaction's
    // first RCPT starts a new list: nothing accepted before it belongs to this transaction.
    std::vector<std::string> listed_;
};

}  // namespace relay::ingress::internal
