// bounce_listener.h -- what a bounce listener (config: role = "bounce") decides that a relay
// listener does not: which recipients it takes, and where a report's bytes go.
//
// Recipients: only the bounce domain's; there, a bounces+TOKEN local part whose token verifies
// with the [return_path] key, one of [bounces] complaint_local_parts, or postmaster (RFC 5321
// §4.5.1). Another domain or another local part: 550 5.1.1; a token that does not verify (a
// forged, altered or foreign address): 550 5.7.1.
//
// Untrusted bytes: the recipient address and the report. Thread: the session's worker; pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/config/config.h"
#include "relay/message/message_pass.h"
#include "relay/smtp/server_session.h"

namespace relay::ingress::internal {

// Nullopt: the address takes reports.
std::optional<smtp::PolicyReply> check_bounce_recipient(const config::Config& config,
                                                        std::string_view recipient);

// Keeps the first `bytes_max` bytes of a report and counts the rest: a bounce larger than the
// limit is still read to its end and answered, and parsed as far as it was kept.
class ReportSink final : public message::Sink {
  public:
    explicit ReportSink(std::uint64_t bytes_max) : bytes_max_(bytes_max) {}
    void append(std::string_view bytes) override;
    std::string take() { return std::move(kept_); }
    bool truncated() const { return received_ > bytes_max_; }
    std::uint64_t received_bytes() const { return received_; }

  private:
    std::uint64_t bytes_max_;
    std::uint64_t received_ = 0;
    std::string kept_;
};

}  // namespace relay::ingress::internal
