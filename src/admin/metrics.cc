// metrics.cc -- /metrics in Prometheus's text exposition format 0.0.4: the statistics store's
// per-resource totals, the queue's depth and oldest message, and the workers' delivery latency
// histogram.
//
// The counters come from the store, which the flusher fills every 2 s: a scrape sees counts at
// most that old, the same numbers `relayctl stats` prints. Label values are escaped as the
// format requires (backslash, double quote, newline).
//
// Thread: the admin thread(s); reads the store and scans the spool.
#include "relay/admin/queue_view.h"
#include "routes.h"

namespace relay::admin::internal {
namespace {

std::string label_value(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

struct Family {
    const char* name;
    const char* help;
    std::string lines;
};

// Which family and extra label each statistics counter is written as.
struct CounterName {
    std::size_t family;
    const char* label;  // `reason` or `kind` value, or nullptr
};

// A switch rather than a table, so that a counter added to the store without a family here is
// a compile error (-Wswitch), not a series written under another counter's name.
CounterName counter_name(store::StatsCounter counter) {
    using C = store::StatsCounter;
    switch (counter) {
        case C::accepted:
            return {0, nullptr};
        case C::refused_auth:
            return {1, "auth"};
        case C::refused_allowlist:
            return {1, "allowlist"};
        case C::refused_rate_limit:
            return {1, "rate_limit"};
        case C::refused_stop_list:
            return {1, "stop_list"};
        case C::refused_utf8:
            return {1, "utf8"};
        case C::refused_size:
            return {1, "size"};
        case C::refused_sender:
            return {1, "sender"};
        case C::delivered:
            return {2, nullptr};
        case C::deferred:
            return {3, nullptr};
        case C::bounced_hard:
            return {4, "hard"};
        case C::bounced_soft:
            return {4, "soft"};
        case C::complaints:
            return {5, nullptr};
        case C::stop_listed:
            return {6, nullptr};
        case C::reports_unparsed:
            return {7, nullptr};
        case C::bounce_reason_unknown:
        case C::bounce_reason_no_such_user:
        case C::bounce_reason_mailbox_full:
        case C::bounce_reason_mailbox_disabled:
        case C::bounce_reason_has_moved:
        case C::bounce_reason_host_not_found:
        case C::bounce_reason_no_mail_accepted:
        case C::bounce_reason_relaying_denied:
        case C::bounce_reason_blocked:
        case C::bounce_reason_bad_reputation:
        case C::bounce_reason_require_ptr:
        case C::bounce_reason_authentication:
        case C::bounce_reason_tls_required:
        case C::bounce_reason_policy:
        case C::bounce_reason_filtered:
        case C::bounce_reason_sender_rejected:
        case C::bounce_reason_spam:
        case C::bounce_reason_virus:
        case C::bounce_reason_content_rejected:
        case C::bounce_reason_not_rfc_compliant:
        case C::bounce_reason_message_too_large:
        case C::bounce_reason_exceeds_limit:
        case C::bounce_reason_rate_limited:
        case C::bounce_reason_expired:
        case C::bounce_reason_network_error:
        case C::bounce_reason_system_error:
        case C::bounce_reason_system_full:
        case C::bounce_reason_syntax_error:
            return {8, store::bounce_reason_of(counter).data()};
    }
    return {0, nullptr};
}

void write_counters(std::string& out, store::StatsStore& stats, std::uint64_t now_s) {
    std::vector<Family> families = {
        {"relay_accepted_messages_total", "Messages accepted (250 after DATA), per resource.", {}},
        {"relay_refused_total",
         "Refusals by reason (auth, allowlist, rate_limit: the rate limiter, stop_list, utf8, "
         "size, sender), per resource.",
         {}},
        {"relay_delivered_recipients_total", "Recipients delivered, per resource.", {}},
        {"relay_deferred_recipients_total", "Delivery attempts deferred, per resource.", {}},
        {"relay_bounced_recipients_total", "Recipients bounced, hard or soft, per resource.", {}},
        {"relay_complaints_total", "Complaints (ARF reports), per resource.", {}},
        {"relay_stop_listed_recipients_total", "Recipients put on a stop list, per resource.", {}},
        {"relay_bounce_reports_unparsed_total",
         "Reports to the bounce listener that no parser could read, per resource (kept in "
         "<spool>/bounces-unparsed/).",
         {}},
        {"relay_bounces_total",
         "Recipients bounced, hard or soft, per resource and reason (the classifier's: "
         "no_such_user, mailbox_full, ...); a reason appears once counted.",
         {}},
    };
    auto scopes = stats.stats_scopes(store::StatsScopeKind::resource);
    for (const std::string& resource : scopes ? scopes.value() : std::vector<std::string>{}) {
        auto sum = stats.sum_stats({store::StatsScopeKind::resource, resource}, 0, now_s);
        if (!sum) {
            continue;
        }
        for (std::size_t index = 0; index < store::stats_counter_count; ++index) {
            const CounterName name = counter_name(static_cast<store::StatsCounter>(index));
            if (name.family == 8 && sum.value()[index] == 0) {
                continue;
            }
            Family& family = families[name.family];
            family.lines +=
                std::string(family.name) + "{resource=\"" + label_value(resource) + "\"";
            if (name.label != nullptr) {
                family.lines +=
                    std::string(name.family == 1 || name.family == 8 ? ",reason=\"" : ",kind=\"") +
                    name.label + "\"";
            }
            family.lines += "} " + std::to_string(sum.value()[index]) + "\n";
        }
    }
    for (const Family& family : families) {
        out += std::string("# HELP ") + family.name + " " + family.help + "\n";
        out += std::string("# TYPE ") + family.name + " counter\n";
        out += family.lines;
    }
}

void write_queue(std::string& out, const std::string& spool_path) {
    auto queue = spool::recover(spool_path + "/segments", false);
    if (!queue) {
        return;
    }
    std::uint64_t oldest_unix_ms = 0;
    for (const spool::RecoveredMessage& recovered : queue->messages) {
        std::uint64_t received = recovered.message.envelope.received_unix_ms;
        oldest_unix_ms = oldest_unix_ms == 0 ? received : std::min(oldest_unix_ms, received);
    }
    out +=
        "# HELP relay_queue_messages Messages in the queue (not yet delivered to every "
        "recipient).\n# TYPE relay_queue_messages gauge\n";
    out += "relay_queue_messages " + std::to_string(queue->messages.size()) + "\n";
    out +=
        "# HELP relay_queue_oldest_message_age_seconds Age of the oldest queued message (0: "
        "empty queue).\n# TYPE relay_queue_oldest_message_age_seconds gauge\n";
    out += "relay_queue_oldest_message_age_seconds " +
           std::to_string(oldest_unix_ms == 0 ? 0 : seconds_since(oldest_unix_ms)) + "\n";
}

std::string seconds_text(std::uint64_t milliseconds) {
    std::string text = std::to_string(milliseconds / 1000) + ".";
    std::string fraction = std::to_string(milliseconds % 1000);
    return text + std::string(3 - fraction.size(), '0') + fraction;
}

void write_latency(std::string& out, const stats::DeliveryLatency& latency) {
    stats::LatencySnapshot snapshot = latency.snapshot();
    const char* name = "relay_delivery_latency_seconds";
    out += std::string("# HELP ") + name +
           " Time from acceptance (250 after DATA) to delivery (the destination's 250), per "
           "recipient delivered since relayd started.\n";
    out += std::string("# TYPE ") + name + " histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t index = 0; index < stats::delivery_latency_bounds_ms.size(); ++index) {
        cumulative += snapshot.buckets[index];
        out += std::string(name) + "_bucket{le=\"" +
               seconds_text(stats::delivery_latency_bounds_ms[index]) + "\"} " +
               std::to_string(cumulative) + "\n";
    }
    cumulative += snapshot.buckets.back();
    out += std::string(name) + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += std::string(name) + "_sum " + seconds_text(snapshot.sum_ms) + "\n";
    out += std::string(name) + "_count " + std::to_string(cumulative) + "\n";
}

void write_tls_versions(std::string& out, const stats::TlsVersions& versions) {
    stats::TlsVersionCounts counts = versions.snapshot();
    out +=
        "# HELP relay_inbound_tls_handshakes_total Client TLS handshakes completed, by "
        "version.\n# TYPE relay_inbound_tls_handshakes_total counter\n";
    for (std::size_t index = 0; index + 1 < stats::tls_version_labels.size(); ++index) {
        out += "relay_inbound_tls_handshakes_total{version=\"" +
               std::string(stats::tls_version_labels[index]) + "\"} " +
               std::to_string(counts.inbound[index]) + "\n";
    }
    out +=
        "# HELP relay_outbound_delivered_recipients_total Recipients delivered, by the TLS "
        "version of the connection (none: plaintext).\n"
        "# TYPE relay_outbound_delivered_recipients_total counter\n";
    for (std::size_t index = 0; index < stats::tls_version_labels.size(); ++index) {
        out += "relay_outbound_delivered_recipients_total{tls=\"" +
               std::string(stats::tls_version_labels[index]) + "\"} " +
               std::to_string(counts.outbound[index]) + "\n";
    }
}

}  // namespace

std::string metrics_text(Backend& backend) {
    std::string out;
    write_counters(out, backend.store->stats(), backend.now_s());
    write_queue(out, backend.config->spool.path);
    if (backend.delivery_latency != nullptr) {
        write_latency(out, *backend.delivery_latency);
    }
    if (backend.tls_versions != nullptr) {
        write_tls_versions(out, *backend.tls_versions);
    }
    return out;
}

}  // namespace relay::admin::internal
