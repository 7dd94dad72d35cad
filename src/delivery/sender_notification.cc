// sender_notification.cc -- the DSN (RFC 3464) queued for the sender of a message with
// failed recipients.
#include <algorithm>

#include "delivery_internal.h"
#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/delivery/dsn.h"

namespace relay::delivery {
namespace {

bool is_digits(std::string_view text) {
    return !text.empty() && text.size() <= 3 &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "4.7.4" at the start of `text`, or empty. relay's own expiry reason has the code of the
// cause ("554 4.7.4 message expired ..."), which a reader of RFC 2034 replies does not take as
// the enhanced code of a 5xx reply.
std::string leading_status(std::string_view text) {
    std::string_view code = text.substr(0, text.find(' '));
    std::size_t first = code.find('.');
    std::size_t second = first == std::string_view::npos ? first : code.find('.', first + 1);
    if (second == std::string_view::npos || first != 1 || (code[0] != '4' && code[0] != '5') ||
        !is_digits(code.substr(2, second - 2)) || !is_digits(code.substr(second + 1))) {
        return {};
    }
    return std::string(code);
}

// "4.4.1" style enhanced code of a reply, or a default by its class.
std::string status_of(const smtp::Reply& reply) {
    if (!reply.enhanced.empty()) {
        return reply.enhanced;
    }
    if (std::string leading = leading_status(reply.text); !leading.empty()) {
        return leading;
    }
    return reply.code >= 500 ? "5.0.0" : (reply.code >= 400 ? "4.0.0" : "2.0.0");
}

}  // namespace

void Delivery::send_dsn(spool::QueueId id) {
    attempts_[id].jobs_outstanding = 1;  // marks the message busy while its headers are read
    spool_.read_headers(id, [this, id](Result<std::string> headers) {
        attempts_.erase(id);
        spool::QueuedMessage* message = spool_.find(id);
        if (message == nullptr) {
            return;
        }
        DsnInput input;
        input.reporting_mta = config_.server.hostname;
        input.sender = message->envelope.reverse_path;
        input.queue_id = spool::format_queue_id(id);
        input.resource = message->envelope.resource;
        input.arrival_unix_ms = message->envelope.received_unix_ms;
        input.now_unix_ms = unix_ms_now();
        input.utf8 = message->envelope.smtputf8;
        if (headers) {
            input.original_headers = headers.value();
        }
        for (const spool::Recipient& recipient : message->recipients) {
            if (recipient.status != spool::RecipientStatus::failed) {
                continue;
            }
            DsnRecipient failed;
            failed.address = recipient.address;
            smtp::ReplyReader reader;
            std::string line = recipient.reply + "\r\n";
            (void)reader.feed(line);
            auto parsed = reader.take();
            failed.status = parsed ? status_of(*parsed) : "5.0.0";
            if (failed.status.empty() || failed.status[0] != '5') {
                failed.status = "5" + (failed.status.size() > 1 ? failed.status.substr(1)
                                                                : std::string(".0.0"));
            }
            failed.remote = !recipient.remote.empty();
            failed.remote_mta = recipient.remote.substr(0, recipient.remote.find('['));
            failed.diagnostic = recipient.reply;
            input.recipients.push_back(std::move(failed));
        }
        std::string bytes = build_dsn(input);
        std::size_t header_end = bytes.find("\r\n\r\n");
        auto incoming = spool_.begin_message(bytes.size());
        incoming->append(bytes);
        spool::QueuedMessage dsn;
        dsn.envelope.reverse_path = "";
        // SMTPUTF8 is needed when the notification's envelope or header fields carry UTF-8,
        // that is when the address it goes to does (RFC 6533 body parts need only 8BITMIME).
        const std::string& notified = message->envelope.reverse_path;
        dsn.envelope.smtputf8 =
            std::any_of(notified.begin(), notified.end(), [](char c) { return (c & 0x80) != 0; });
        dsn.envelope.eight_bit =
            std::any_of(bytes.begin(), bytes.end(), [](char c) { return (c & 0x80) != 0; });
        dsn.envelope.received_unix_ms = input.now_unix_ms;
        dsn.envelope.origin = spool::Origin::dsn;
        dsn.envelope.header_bytes = static_cast<std::uint32_t>(
            header_end == std::string::npos ? bytes.size() : header_end + 4);
        dsn.recipients.push_back(spool::Recipient{message->envelope.reverse_path});
        std::string original = input.queue_id;
        spool_.commit(std::move(incoming), std::move(dsn),
                      [original](Result<spool::QueueId> queued) {
                          if (queued) {
                              log::info("{}: sender notification {}", original,
                                        spool::format_queue_id(queued.value()));
                          } else {
                              log::error("{}: cannot queue the sender notification: {}", original,
                                         queued.error().message);
                          }
                      });
        // In the same group commit as the notification's record: the original is done.
        spool_.finish(id);
    });
}

}  // namespace relay::delivery
