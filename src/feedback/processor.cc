// processor.cc -- the bounce processor's thread: reports in, stop-list entries, statistics and
// log lines out (see processor.h).
//
// Untrusted bytes: every report, from anyone on the internet; the parser (bounce/report.h) bounds
// its work, and only the VERP token or the Message-ID index may name a recipient (outcome.h).
// Thread: its own; the queues are shared with the workers under mutex_. Never: hold mutex_ while
// parsing or writing, or let a report's failure stop the others.
#include "relay/feedback/processor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

#include "relay/base/ascii.h"
#include "relay/base/clock.h"
#include "relay/base/log.h"
#include "relay/bounce/outcome.h"
#include "relay/bounce/report.h"
#include "relay/bounce/soft_bounce_runs.h"
#include "relay/bounce/verp.h"
#include "relay/smtp/address.h"
#include "relay/store/stop_list.h"

namespace relay::feedback {
namespace {

constexpr std::uint64_t prune_interval_s = 3600;

std::string run_key(std::string_view resource, std::string_view recipient) {
    return std::string(resource) + "\n" + ascii_lower(recipient);
}

// Writes a whole file or nothing: a report kept for inspection is never half there.
bool write_file(const std::string& path, std::string_view bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return false;
    }
    std::size_t written = 0;
    while (written < bytes.size()) {
        ssize_t now = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (now <= 0) {
            ::close(fd);
            ::unlink(path.c_str());
            return false;
        }
        written += static_cast<std::size_t>(now);
    }
    ::close(fd);
    return true;
}

}  // namespace

struct Processor::Batch {
    std::deque<Job> reports;
    std::vector<store::SentMessage> sent;
    std::vector<std::pair<std::string, spool::QueueId>> delivered;
    std::uint64_t sent_dropped = 0;
};

// What the thread keeps between batches.
class Processor::Worker {
  public:
    Worker(store::TenantStore& store, const policy::TenantSnapshots& snapshots,
           stats::WorkerCounter& counter, ProcessorOptions options)
        : store_(store),
          snapshots_(snapshots),
          counter_(counter),
          options_(std::move(options)),
          runs_(std::max<std::uint32_t>(options_.bounces.soft_bounces_to_hard, 1),
                options_.bounces.soft_bounce_recipients_max) {
        keys_.push_back(options_.return_path.key);
    }

    Status open_folder();
    void index(std::vector<store::SentMessage>& sent);
    void delivered(const std::string& key, spool::QueueId id) { runs_.delivered(key, id); }
    // Handles one report: counts, logs, and queues its stop entries for write_stops.
    void process(const ReceivedReport& report);
    // Writes the queued entries; one status per report processed since the last call.
    std::vector<Status> write_stops(std::size_t reports);
    void prune(std::uint64_t now_s);

  private:
    struct Target {
        std::string resource;
        std::string domain;
        bool resource_known = false;  // a resource of the tenant store (or "" for none)
        std::vector<std::string> recipients;
        spool::QueueId queue_id = 0;
    };
    struct Pending {
        std::string resource;
        std::string domain;
        std::size_t report = 0;  // which report of the batch added the entry
    };

    void process_one(const ReceivedReport& report);
    std::optional<std::string> resource_of(std::uint64_t fingerprint);
    std::optional<store::SentMessage> find_sent(const std::string& message_id);
    Target target_of(const std::optional<bounce::VerpToken>& token,
                     const std::optional<store::SentMessage>& sent);
    void apply(const bounce::Outcome& outcome, const Target& target, const ReceivedReport& report,
               const bounce::Report& parsed);
    void stop_list(const bounce::Outcome& outcome, const Target& target, store::StopReason reason,
                   std::string& action);
    void keep_unparsed(const ReceivedReport& report);
    void count(const Target& target, store::StatsCounter counter) {
        counter_.count(target.resource, target.domain, counter, unix_ms_now() / 1000);
    }

    store::TenantStore& store_;
    const policy::TenantSnapshots& snapshots_;
    stats::WorkerCounter& counter_;
    ProcessorOptions options_;
    std::vector<std::string> keys_;
    bounce::SoftBounceRuns runs_;
    std::uint64_t fingerprints_generation_ = ~std::uint64_t{0};
    std::unordered_map<std::uint64_t, std::string> fingerprints_;
    std::deque<std::string> unparsed_files_;  // oldest first
    std::uint64_t unparsed_sequence_ = 0;
    std::uint64_t synthetic_queue_id_ = 0;  // for soft bounces no message id names
    std::vector<store::StopEntry> stops_;
    std::set<std::string> stops_keys_;  // scope and address of stops_, for the batch's duplicates
    std::vector<Pending> stop_counts_;
    std::size_t reports_seen_ = 0;  // reports processed since the last write_stops
};

Status Processor::Worker::open_folder() {
    const std::string& folder = options_.unparsed_folder;
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    if (error) {
        return Error{"cannot create " + folder + ": " + error.message()};
    }
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
        if (entry.is_regular_file()) {
            names.push_back(entry.path().filename().string());
        }
    }
    if (error) {
        return Error{"cannot read " + folder + ": " + error.message()};
    }
    std::sort(names.begin(), names.end());  // named by time: oldest first
    unparsed_files_.assign(names.begin(), names.end());
    return {};
}

void Processor::Worker::index(std::vector<store::SentMessage>& sent) {
    if (sent.empty()) {
        return;
    }
    if (Status added = store_.message_index().add_sent(sent); !added) {
        log::error("bounces: {} sent messages not indexed by Message-ID: {}", sent.size(),
                   added.error().message);
    }
}

void Processor::Worker::prune(std::uint64_t now_s) {
    const config::Bounces& b = options_.bounces;
    std::uint64_t oldest_s =
        b.message_index_s == 0 || now_s < b.message_index_s ? 0 : now_s - b.message_index_s;
    auto dropped = store_.message_index().prune_sent(oldest_s, b.message_index_entries_max);
    if (!dropped) {
        log::error("bounces: the Message-ID index was not pruned: {}", dropped.error().message);
    } else if (dropped.value() > 0) {
        log::info("bounces: {} entries of the Message-ID index expired", dropped.value());
    }
}

// The tenant list's fingerprints, computed again when the tenants change.
std::optional<std::string> Processor::Worker::resource_of(std::uint64_t fingerprint) {
    std::shared_ptr<const policy::TenantSnapshot> snapshot = snapshots_.current();
    if (snapshot->generation() != fingerprints_generation_) {
        fingerprints_.clear();
        fingerprints_.emplace(bounce::verp_resource_fingerprint(""), "");
        snapshot->for_each_resource([&](const store::ResourceRecord& resource) {
            std::string username = resource.username();
            fingerprints_.emplace(bounce::verp_resource_fingerprint(username), username);
        });
        fingerprints_generation_ = snapshot->generation();
    }
    auto found = fingerprints_.find(fingerprint);
    if (found == fingerprints_.end()) {
        return std::nullopt;
    }
    return found->second;
}

std::optional<store::SentMessage> Processor::Worker::find_sent(const std::string& message_id) {
    if (message_id.empty()) {
        return std::nullopt;
    }
    auto sent = store_.message_index().find_sent(message_id);
    if (!sent) {
        log::error("bounces: the Message-ID index cannot be read: {}", sent.error().message);
        return std::nullopt;
    }
    return std::move(sent.value());
}

// The token decides the resource; the index adds the sender domain and the recipients when it
// holds the same message (or is all there is).
Processor::Worker::Target Processor::Worker::target_of(
    const std::optional<bounce::VerpToken>& token, const std::optional<store::SentMessage>& sent) {
    Target target;
    if (token) {
        target.queue_id = token->queue_id;
        if (std::optional<std::string> resource = resource_of(token->resource_fingerprint)) {
            target.resource = std::move(*resource);
            target.resource_known = true;
        }
        if (sent && sent->queue_id == token->queue_id) {
            target.domain = sent->sender_domain;
            target.recipients = sent->recipients;
        }
        return target;
    }
    if (sent) {
        target.queue_id = sent->queue_id;
        target.resource = sent->resource;
        target.resource_known =
            snapshots_.current()->resource(sent->resource) != nullptr || sent->resource.empty();
        target.domain = sent->sender_domain;
        target.recipients = sent->recipients;
    }
    return target;
}

void Processor::Worker::process(const ReceivedReport& report) {
    process_one(report);
    ++reports_seen_;
}

void Processor::Worker::process_one(const ReceivedReport& report) {
    bounce::ReportLimits limits;
    limits.message_bytes_max = options_.bounces.message_bytes_max;
    bounce::Report parsed = bounce::parse_report(report.bytes, limits);
    std::optional<store::SentMessage> sent = find_sent(parsed.original_message_id);
    // One transaction may carry several tokens (a bounce for several of our recipients at one
    // domain): each is a report about its own recipient.
    std::vector<std::optional<bounce::VerpToken>> tokens;
    std::vector<std::string_view> keys(keys_.begin(), keys_.end());
    for (const std::string& recipient : report.recipients) {
        auto decoded = bounce::decode_verp(keys, recipient);
        if (decoded) {
            tokens.emplace_back(decoded.value());
        }
    }
    if (tokens.empty()) {
        tokens.emplace_back(std::nullopt);
    }
    for (const std::optional<bounce::VerpToken>& token : tokens) {
        Target target = target_of(token, sent);
        if (parsed.kind == bounce::ReportKind::unknown) {
            count(target, store::StatsCounter::reports_unparsed);
            keep_unparsed(report);
            log::info("bounce: client={} resource={} report=unknown size={}{}: kept for inspection",
                      report.client_ip, target.resource, report.bytes.size(),
                      report.truncated ? " (truncated)" : "");
            return;
        }
        std::vector<bounce::Outcome> outcomes =
            bounce::decide_outcomes(parsed, token, target.recipients);
        if (outcomes.empty()) {
            log::info("bounce: client={} resource={} report={} class={} reason={}: no outcome ({})",
                      report.client_ip, target.resource, bounce::kind_name(parsed.kind),
                      bounce::class_name(parsed.classification.bounce_class),
                      bounce::reason_name(parsed.classification.reason),
                      token || !target.recipients.empty() ? "no failed recipient of ours"
                                                          : "no token and no known Message-ID");
            continue;
        }
        for (const bounce::Outcome& outcome : outcomes) {
            apply(outcome, target, report, parsed);
        }
    }
}

void Processor::Worker::apply(const bounce::Outcome& outcome, const Target& target,
                              const ReceivedReport& report, const bounce::Report& parsed) {
    std::string action = "counted";
    std::string run;
    if (outcome.kind != bounce::OutcomeKind::complaint) {
        auto reason = store::bounce_reason_counter(bounce::reason_name(outcome.reason));
        count(target, reason ? *reason : store::StatsCounter::bounce_reason_unknown);
    }
    switch (outcome.kind) {
        case bounce::OutcomeKind::hard_bounce:
            count(target, store::StatsCounter::bounced_hard);
            stop_list(outcome, target, store::StopReason::hard_bounce, action);
            break;
        case bounce::OutcomeKind::complaint:
            count(target, store::StatsCounter::complaints);
            stop_list(outcome, target, store::StopReason::complaint, action);
            break;
        case bounce::OutcomeKind::soft_bounce: {
            std::uint32_t to_hard = options_.bounces.soft_bounces_to_hard;
            if (to_hard == 0) {
                count(target, store::StatsCounter::bounced_soft);
                break;
            }
            spool::QueueId id = target.queue_id != 0 ? target.queue_id : ++synthetic_queue_id_;
            std::uint32_t length =
                runs_.soft_bounce(run_key(target.resource, outcome.recipient), id);
            run = " run=" + std::to_string(length) + "/" + std::to_string(to_hard);
            if (length < to_hard) {
                count(target, store::StatsCounter::bounced_soft);
                break;
            }
            // The run's last bounce counts as the hard bounce it amounts to.
            count(target, store::StatsCounter::bounced_hard);
            stop_list(outcome, target, store::StopReason::hard_bounce, action);
            break;
        }
    }
    if (outcome.kind != bounce::OutcomeKind::soft_bounce) {
        runs_.forget(run_key(target.resource, outcome.recipient));
    }
    log::info(
        "bounce: client={} resource={} recipient=<{}> kind={} status={} reason={} "
        "report={}{}: {}",
        report.client_ip, target.resource, outcome.recipient,
        bounce::outcome_kind_name(outcome.kind), outcome.status.empty() ? "-" : outcome.status,
        bounce::reason_name(outcome.reason), bounce::kind_name(parsed.kind), run, action);
}

void Processor::Worker::stop_list(const bounce::Outcome& outcome, const Target& target,
                                  store::StopReason reason, std::string& action) {
    if (!target.resource_known) {
        action = "not stop-listed: the message's resource is not in the tenant store (removed?)";
        return;
    }
    if (target.resource.empty()) {
        action = "not stop-listed: the message was sent without a resource (no AUTH)";
        return;
    }
    auto address = store::parse_stop_address(outcome.recipient);
    if (!address) {
        action = "not stop-listed: " + address.error().message;
        return;
    }
    std::uint64_t now_s = unix_ms_now() / 1000;
    std::string key = target.resource + "\n" + address->text();
    if (stops_keys_.contains(key)) {
        action = "already stop-listed";
        return;
    }
    auto existing = store_.stop_lists().find_stop(target.resource, address->text(), now_s);
    if (existing && existing.value() && existing.value()->scope == target.resource &&
        existing.value()->address.text() == address->text()) {
        action = "already stop-listed (" +
                 std::string(store::stop_reason_name(existing.value()->reason)) + ")";
        return;
    }
    store::StopEntry entry;
    entry.scope = target.resource;
    entry.address = std::move(address.value());
    entry.reason = reason;
    entry.added_s = now_s;
    stops_.push_back(std::move(entry));
    stops_keys_.insert(std::move(key));
    stop_counts_.push_back({target.resource, target.domain, reports_seen_});
    action = "stop-listed (" + std::string(store::stop_reason_name(reason)) + ")";
}

// All of a batch's entries in one transaction. When that fails and the batch holds more than
// one entry, each is tried alone: a resource removed since the tenant snapshot was taken fails
// its own entry (add_stop needs the resource), not the others. A report whose entry could not be
// written is answered with the failure, so that its sender tries again.
std::vector<Status> Processor::Worker::write_stops(std::size_t reports) {
    std::vector<Status> statuses(reports);
    std::vector<bool> added(stops_.size(), true);
    Status batch;
    if (!stops_.empty()) {
        batch = store_.stop_lists().add_stops(stops_);
    }
    if (!batch) {
        for (std::size_t index = 0; index < stops_.size(); ++index) {
            Status one = stops_.size() > 1 ? store_.stop_lists().add_stop(stops_[index]) : batch;
            if (!one) {
                log::error("bounces: stop-list entry {} of {} not written: {}",
                           stops_[index].address.text(), stops_[index].scope, one.error().message);
                added[index] = false;
                statuses[stop_counts_[index].report] = std::move(one);
            }
        }
    }
    for (std::size_t index = 0; index < stop_counts_.size(); ++index) {
        if (added[index]) {
            counter_.count(stop_counts_[index].resource, stop_counts_[index].domain,
                           store::StatsCounter::stop_listed, unix_ms_now() / 1000);
        }
    }
    stops_.clear();
    stops_keys_.clear();
    stop_counts_.clear();
    reports_seen_ = 0;
    return statuses;
}

void Processor::Worker::keep_unparsed(const ReceivedReport& report) {
    std::uint32_t files_max = options_.bounces.unparsed_files_max;
    if (files_max == 0) {
        return;
    }
    char name[64];
    std::snprintf(name, sizeof name, "%013llu-%06llu.eml",
                  static_cast<unsigned long long>(unix_ms_now()),
                  static_cast<unsigned long long>(++unparsed_sequence_ % 1000000));
    if (!write_file(options_.unparsed_folder + "/" + name, report.bytes)) {
        log::error("bounces: cannot keep an unparsed report in {}", options_.unparsed_folder);
        return;
    }
    unparsed_files_.emplace_back(name);
    while (unparsed_files_.size() > files_max) {
        ::unlink((options_.unparsed_folder + "/" + unparsed_files_.front()).c_str());
        unparsed_files_.pop_front();
    }
}

// ---------------------------------------------------------------------------------------------

Processor::Processor(store::TenantStore& store, const policy::TenantSnapshots& snapshots,
                     stats::WorkerCounter& counter, ProcessorOptions options)
    : queue_max_(options.bounces.queue_max),
      queue_bytes_max_(options.bounces.queue_bytes_max),
      sent_queue_max_(options.sent_queue_max),
      track_deliveries_(options.bounces.soft_bounces_to_hard > 0) {
    worker_ = std::make_unique<Worker>(store, snapshots, counter, std::move(options));
}

Result<std::unique_ptr<Processor>> Processor::start(store::TenantStore& store,
                                                    const policy::TenantSnapshots& snapshots,
                                                    stats::WorkerCounter& counter,
                                                    ProcessorOptions options) {
    std::unique_ptr<Processor> processor(
        new Processor(store, snapshots, counter, std::move(options)));
    if (Status opened = processor->worker_->open_folder(); !opened) {
        return Error{"bounces: " + opened.error().message};
    }
    processor->worker_->prune(unix_ms_now() / 1000);
    processor->thread_ = std::thread([raw = processor.get()] { raw->run(); });
    return processor;
}

Processor::~Processor() {
    stop();
}

bool Processor::submit(ReceivedReport report, std::function<void(Status)> done) {
    {
        std::lock_guard lock(mutex_);
        std::size_t size = report.bytes.size();
        if (stopping_ || reports_.size() >= queue_max_ || bytes_held_ + size > queue_bytes_max_) {
            return false;
        }
        bytes_held_ += size;
        reports_.push_back(Job{std::move(report), std::move(done)});
    }
    wake_.notify_one();
    return true;
}

void Processor::sent(store::SentMessage message) {
    std::lock_guard lock(mutex_);
    if (sent_.size() >= sent_queue_max_) {
        ++sent_dropped_;
        return;
    }
    sent_.push_back(std::move(message));
    // No wake-up: the index is written with the next batch, or within the next second.
}

void Processor::delivered(std::string_view resource, std::string_view recipient,
                          spool::QueueId id) {
    if (!track_deliveries_) {
        return;
    }
    std::lock_guard lock(mutex_);
    if (delivered_.size() < sent_queue_max_) {
        delivered_.emplace_back(run_key(resource, recipient), id);
    }
}

void Processor::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Processor::run() {
    std::uint64_t last_prune_s = unix_ms_now() / 1000;
    for (;;) {
        Batch batch;
        bool stopping = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::seconds(1),
                           [&] { return stopping_ || !reports_.empty(); });
            batch.reports.swap(reports_);
            batch.sent.swap(sent_);
            batch.delivered.swap(delivered_);
            std::swap(batch.sent_dropped, sent_dropped_);
            stopping = stopping_;
        }
        handle(batch);
        std::uint64_t now_s = unix_ms_now() / 1000;
        if (now_s >= last_prune_s + prune_interval_s) {
            worker_->prune(now_s);
            last_prune_s = now_s;
        }
        if (stopping) {
            std::lock_guard lock(mutex_);
            if (reports_.empty() && sent_.empty()) {
                return;
            }
        }
    }
}

void Processor::handle(Batch& batch) {
    if (batch.sent_dropped > 0) {
        log::warning("bounces: {} sent messages not indexed: the index queue was full",
                     batch.sent_dropped);
    }
    worker_->index(batch.sent);
    // Deliveries first: they were reported before the reports of this batch were handed over.
    for (const auto& [key, id] : batch.delivered) {
        worker_->delivered(key, id);
    }
    for (const Job& job : batch.reports) {
        worker_->process(job.report);
    }
    std::vector<Status> statuses = worker_->write_stops(batch.reports.size());
    // The reports' octets leave the budget before their senders hear 250: a sender that sends
    // its next report on that reply must find the room it made.
    std::size_t handled = 0;
    for (const Job& job : batch.reports) {
        handled += job.report.bytes.size();
    }
    if (handled > 0) {
        std::lock_guard lock(mutex_);
        bytes_held_ -= handled;
    }
    for (std::size_t index = 0; index < batch.reports.size(); ++index) {
        batch.reports[index].done(statuses[index]);
    }
}

}  // namespace relay::feedback
