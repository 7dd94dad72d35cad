// policy_service.cc -- the MTA-STS fetch thread, the shared policy cache, and the files it
// keeps in the spool folder (see policy_service.h).
//
// Thread: run() is the service's thread; cached() and fetch() are called by workers and only
// hold the mutex to read or queue. Untrusted bytes: the fetched policy (parse_policy).
// RFC 8461 §3.3 (fetching), §5 (caching, failures); RFC 8460 (counts).
// Never: hold the mutex during a fetch, a file write or a `done` call.
#include "relay/sts/policy_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "relay/base/clock.h"
#include "relay/base/file.h"
#include "relay/base/log.h"

namespace relay::sts {
namespace {

std::uint64_t now_unix_s() {
    return unix_ms_now() / 1000;
}

// A state file's text; none (and a warning unless it is simply absent) if it cannot be read.
std::optional<std::string> read_state_file(const std::string& path) {
    auto text = read_file("state file", path, state_file_bytes_max);
    if (!text) {
        if (text.error().system_errno != ENOENT) {
            log::warning("{}; it is ignored", text.error().message);
        }
        return std::nullopt;
    }
    return std::move(text.value());
}

// Write, fsync, rename: a crash leaves the old file or the new one, never half of one.
Status write_file_atomically(const std::string& path, const std::string& text) {
    std::string temporary = path + ".new";
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        return system_error("cannot write " + temporary, errno);
    }
    std::size_t written = 0;
    while (written < text.size()) {
        ssize_t result = ::write(fd, text.data() + written, text.size() - written);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result < 0) {
            int error = errno;
            ::close(fd);
            return system_error("cannot write " + temporary, error);
        }
        written += static_cast<std::size_t>(result);
    }
    if (::fsync(fd) != 0) {
        int error = errno;
        ::close(fd);
        return system_error("cannot sync " + temporary, error);
    }
    ::close(fd);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        return system_error("cannot rename " + temporary, errno);
    }
    return {};
}

std::string policies_path(const ServiceOptions& options) {
    return options.state_folder + "/mta-sts-policies";
}

std::string report_path(const ServiceOptions& options) {
    return options.state_folder + "/tls-report";
}

}  // namespace

PolicyService::PolicyService(const ServiceOptions& options)
    : options_(options), cache_(options.policies_max) {
    for (std::size_t index = 0; index < options.report_shards; ++index) {
        shards_.push_back(std::make_unique<ReportShard>());
    }
}

Result<std::unique_ptr<PolicyService>> PolicyService::start(const ServiceOptions& options) {
    std::unique_ptr<PolicyService> service(new PolicyService(options));
    if (auto text = read_state_file(policies_path(options))) {
        auto cache = PolicyCache::decode(*text, options.policies_max, now_unix_s());
        if (cache) {
            service->cache_ = std::move(cache.value());
        } else {
            log::warning("{}: {}; MTA-STS policies are fetched again", policies_path(options),
                         cache.error().message);
        }
    }
    if (auto text = read_state_file(report_path(options))) {
        auto counts = decode_counts(*text);
        if (counts) {
            service->totals_ = std::move(counts.value());
            service->policies_ = std::move(decode_policies(*text).value());
        } else {
            log::warning("{}: {}; TLS report counts start from zero", report_path(options),
                         counts.error().message);
        }
    }
    service->thread_ = std::thread([raw = service.get()] { raw->run(); });
    return service;
}

PolicyService::~PolicyService() {
    stop();
}

std::optional<CachedPolicy> PolicyService::cached(const std::string& domain) const {
    std::lock_guard lock(mutex_);
    return cache_.find(domain, now_unix_s());
}

bool PolicyService::fetch(const std::string& domain, const std::string& id,
                          std::vector<std::string> addresses, std::function<void(FetchResult)> done,
                          bool refresh) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        return false;
    }
    auto waiting = waiting_.find(domain);
    if (waiting != waiting_.end()) {
        waiting->second.push_back(std::move(done));  // the fetch under way answers it too
        return true;
    }
    if (jobs_.size() >= options_.queue_max) {
        return false;
    }
    jobs_.push_back(Job{domain, id, std::move(addresses), refresh});
    waiting_[domain].push_back(std::move(done));
    wake_.notify_one();
    return true;
}

std::vector<CachedPolicy> PolicyService::due_for_refresh(std::size_t count) {
    std::uint64_t now = now_unix_s();
    std::vector<CachedPolicy> due;
    std::lock_guard lock(mutex_);
    std::erase_if(refresh_attempted_unix_s_, [this, now](const auto& item) {
        return !cache_.find(item.first, now).has_value();
    });
    cache_.for_each([&](const CachedPolicy& entry) {
        if (due.size() >= count || now >= entry.expires_unix_s || waiting_.contains(entry.domain)) {
            return;
        }
        std::uint64_t period = std::min<std::uint64_t>(
            options_.refresh_interval_s, std::max<std::uint64_t>(entry.policy.max_age_s / 2, 1));
        std::uint64_t retry = std::max<std::uint64_t>(period / 4, 1);
        auto attempted = refresh_attempted_unix_s_.find(entry.domain);
        if (now < entry.fetched_unix_s + period ||
            (attempted != refresh_attempted_unix_s_.end() && now < attempted->second + retry)) {
            return;
        }
        refresh_attempted_unix_s_[entry.domain] = now;
        due.push_back(entry);
    });
    return due;
}

void PolicyService::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
        jobs_.clear();
        waiting_.clear();
    }
    wake_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
    flush_report();
}

void PolicyService::run() {
    auto next_flush =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.report_flush_ms);
    for (;;) {
        std::optional<Job> job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait_until(lock, next_flush, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) {
                return;
            }
            if (!jobs_.empty()) {
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
        }
        if (job) {
            handle(*job);
        }
        if (std::chrono::steady_clock::now() >= next_flush) {
            flush_report();
            next_flush = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(options_.report_flush_ms);
        }
    }
}

void PolicyService::handle(const Job& job) {
    FetchRequest request;
    request.domain = job.domain;
    request.addresses = job.addresses;
    request.port = options_.https_port;
    request.ca_file = options_.ca_file;
    request.timeout_s = options_.fetch_timeout_s;
    FetchOutcome outcome = fetch_policy_text(request);
    FetchResult result;
    std::optional<std::string> saved;
    if (outcome.ok) {
        auto policy = parse_policy(outcome.body);
        if (policy) {
            CachedPolicy entry;
            entry.domain = job.domain;
            entry.id = job.id;
            entry.policy = std::move(policy.value());
            entry.fetched_unix_s = now_unix_s();
            entry.expires_unix_s = entry.fetched_unix_s + entry.policy.max_age_s;
            result.policy = entry;
            log::info("MTA-STS policy of {} (id {}){}: mode {}, max_age {}, mx {}", job.domain,
                      job.id, job.refresh ? " refreshed" : "", mode_name(entry.policy.mode),
                      entry.policy.max_age_s, entry.policy.mx.size());
        } else {
            result.failure = ResultType::sts_policy_invalid;
            result.reason =
                "MTA-STS policy of " + job.domain + " is invalid: " + policy.error().message;
        }
    } else {
        result.failure = outcome.failure;
        result.reason = outcome.reason;
    }
    std::vector<std::function<void(FetchResult)>> callers;
    {
        std::lock_guard lock(mutex_);
        std::uint64_t now = now_unix_s();
        if (result.policy) {
            cache_.put(*result.policy, now);
            saved = cache_.encode();
        } else {
            result.policy = cache_.find(job.domain, now);  // RFC 8461 §5
        }
        auto waiting = waiting_.find(job.domain);
        if (waiting != waiting_.end()) {
            callers = std::move(waiting->second);
            waiting_.erase(waiting);
        }
    }
    if (result.failure) {
        // RFC 8461 §5.1: a failed refresh is worth an operator's look, unless the mode is none.
        log::warning("{}{}{}", job.refresh ? "refresh: " : "", result.reason,
                     result.policy ? "; the cached policy stays in force" : "; no policy applies");
    }
    if (saved) {
        if (Status written = write_file_atomically(policies_path(options_), *saved); !written) {
            log::error("MTA-STS policies not saved: {}", written.error().message);
        }
    }
    for (auto& done : callers) {
        done(result);
    }
}

void PolicyService::flush_report() {
    for (auto& shard : shards_) {
        ReportCounts drained = shard->drain();
        if (!drained.empty()) {
            merge_counts(totals_, drained);
            totals_changed_ = true;
        }
        ReportPolicies policies = shard->drain_policies();
        if (!policies.empty()) {
            merge_policies(policies_, policies);
            totals_changed_ = true;
        }
    }
    if (!totals_changed_) {
        return;
    }
    std::uint64_t oldest = now_unix_s() - std::uint64_t{report_days_kept} * 86400;
    prune_days(totals_, report_day(oldest));
    prune_days(policies_, report_day(oldest));
    if (Status written = write_file_atomically(report_path(options_),
                                               encode_counts(totals_) + encode_policies(policies_));
        !written) {
        log::error("TLS report not saved: {}", written.error().message);
        return;
    }
    totals_changed_ = false;
}

}  // namespace relay::sts
