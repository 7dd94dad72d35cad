// policy_service.h -- the MTA-STS policies of relayd: a thread that fetches them over HTTPS,
// the cache every worker reads, their file in the spool folder, and the TLS report totals.
//
// A worker that looked up `_mta-sts.<domain>` asks cached() first: a policy still valid and
// fetched under the same TXT id is used at once. Otherwise it resolves mta-sts.<domain> and
// calls fetch(); the fetch runs on this service's thread (a blocking libcurl GET bounded by
// fetch_timeout_s), and `done` runs on that thread with the outcome: the caller posts it back
// to its worker. Fetches of one domain from several workers at once are made once. Jobs wait
// in one queue of at most queue_max; fetch() refuses more (the caller then goes on without a
// policy, as when the server cannot be reached).
//
// RFC 8461 §5: when the fetch fails, a cached policy that has not expired is still the answer;
// otherwise there is none. A policy is kept for its max_age, across restarts: the cache is
// written to <state_folder>/mta-sts-policies after each change (write, fsync, rename).
//
// TLS reporting: workers count into report().shard(worker); this thread adds the shards to the
// totals and writes <state_folder>/tls-report every report_flush_ms and once more at stop().
//
// Threads: cached(), fetch() and report().shard(i) from the workers (cached() and fetch() take
// the service's mutex briefly: once per destination lookup, never per message); everything else
// on the service's own thread. Never: fetch on a worker; call `done` with the mutex held.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "relay/base/result.h"
#include "relay/sts/fetch.h"
#include "relay/sts/policy_cache.h"
#include "relay/sts/tls_report.h"

namespace relay::sts {

// The state files are relay's own; the bound only keeps a wrong file from filling memory. It is
// above the largest file relay writes (policies_max policies of policy_bytes_max each).
inline constexpr std::size_t state_file_bytes_max = std::size_t{1} << 30;

struct ServiceOptions {
    std::string state_folder;  // the spool folder
    std::string ca_file;       // delivery.ca_file
    std::uint16_t https_port = 443;
    std::uint32_t fetch_timeout_s = 10;
    std::size_t policies_max = 10000;
    std::size_t queue_max = 256;
    std::uint32_t report_flush_ms = 2000;
    std::uint32_t refresh_interval_s = 86400;
    std::size_t report_shards = 1;  // one per worker
};

struct FetchResult {
    std::optional<CachedPolicy> policy;  // the new policy, or the cached one after a failure
    std::optional<ResultType> failure;   // why the fetch failed, if it did
    std::string reason;                  // the failure for the log
};

class PolicyService {
  public:
    static Result<std::unique_ptr<PolicyService>> start(const ServiceOptions& options);
    ~PolicyService();  // stop()
    PolicyService(const PolicyService&) = delete;
    PolicyService& operator=(const PolicyService&) = delete;

    // The domain's cached policy, if it has not expired.
    std::optional<CachedPolicy> cached(const std::string& domain) const;
    // Queues a fetch for `domain` whose TXT record says `id`. False when the queue is full
    // (`done` is then dropped). `refresh`: a background refresh (the log says so).
    bool fetch(const std::string& domain, const std::string& id, std::vector<std::string> addresses,
               std::function<void(FetchResult)> done, bool refresh = false);

    // RFC 8461 §5.1, "proactively refresh cached policies before they expire": the cached
    // policies (at most `count`) due for a refresh, that is fetched refresh_interval_s ago or
    // half their max_age ago, whichever is sooner, and not being fetched. Each is then not due
    // again for a quarter of that period (at least a second), so a refresh that fails is tried
    // again well before the policy expires, without a busy loop. The caller (one worker) looks
    // the TXT record and the server up and calls fetch(..., refresh = true).
    std::vector<CachedPolicy> due_for_refresh(std::size_t count);

    ReportShard& report_shard(std::size_t worker) { return *shards_.at(worker); }

    // Drops waiting fetches (their `done` never runs), ends the thread, writes the report.
    void stop();

  private:
    struct Job {
        std::string domain;
        std::string id;
        std::vector<std::string> addresses;
        bool refresh = false;
    };

    explicit PolicyService(const ServiceOptions& options);
    void run();
    void handle(const Job& job);
    void flush_report();
    Status save_policies(const std::string& text);

    ServiceOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    PolicyCache cache_;
    std::deque<Job> jobs_;
    std::map<std::string, std::vector<std::function<void(FetchResult)>>> waiting_;  // by domain
    bool stopping_ = false;
    std::map<std::string, std::uint64_t> refresh_attempted_unix_s_;  // by domain, cached ones
    std::vector<std::unique_ptr<ReportShard>> shards_;
    ReportCounts totals_;      // the service thread's
    ReportPolicies policies_;  // the service thread's: the policies behind totals_
    bool totals_changed_ = false;
    std::thread thread_;
};

}  // namespace relay::sts
