// processor.h -- the bounce processor: the thread that turns the reports the bounce listener
// receives into stop-list entries, statistics and log lines, and keeps the Message-ID index of
// sent mail (docs/bounces.md).
//
// Why a thread: each report ends in LMDB writes (stop-list entries, the index), which may wait
// for the disk and for relayctl's write lock; a worker's loop never does. Workers hand it
// reports, sent messages and deliveries through one bounded, mutex-guarded queue (held only to
// push or swap, never during work), the pattern of policy::HashPool; the thread takes everything
// queued at once, so the store sees one transaction per batch rather than one per report.
//
// A report is answered (`done`) after its outcomes are in the store: the 250 the listener then
// gives means the recipient is stop-listed, and a crash before it loses nothing the sender
// would not send again. A report nobody can read is kept in `unparsed_folder` (at most
// unparsed_files_max files, the oldest dropped) and counted as reports_unparsed.
//
// Thread: submit, sent and delivered from any thread (the workers); start and stop from the
// thread that owns it; the rest runs on its own thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "relay/base/result.h"
#include "relay/config/config.h"
#include "relay/policy/tenant_snapshots.h"
#include "relay/spool/queue_id.h"
#include "relay/stats/recorder.h"
#include "relay/store/message_index.h"
#include "relay/store/tenant_store.h"

namespace relay::feedback {

// One message the bounce listener accepted.
struct ReceivedReport {
    std::string bytes;  // at most [bounces] message_bytes_max of it
    bool truncated = false;
    std::vector<std::string> recipients;  // the envelope's (bounces+TOKEN or a complaint address)
    std::string client_ip;
};

struct ProcessorOptions {
    config::Bounces bounces;
    config::ReturnPath return_path;
    std::string unparsed_folder;         // created if missing
    std::size_t sent_queue_max = 65536;  // messages waiting for the index; past it, not indexed
};

class Processor {
  public:
    // `store`, `snapshots` and `counter` outlive the processor; `counter` is its own statistics
    // table (stats::Recorder::worker(N) for N workers).
    static Result<std::unique_ptr<Processor>> start(store::TenantStore& store,
                                                    const policy::TenantSnapshots& snapshots,
                                                    stats::WorkerCounter& counter,
                                                    ProcessorOptions options);
    ~Processor();
    Processor(const Processor&) = delete;
    Processor& operator=(const Processor&) = delete;

    // Queues a report; `done` runs on the processor's thread once it is handled (an error:
    // the store refused the outcomes). False (nothing queued) when [bounces] queue_max reports
    // are waiting, or when this one would take the octets held past queue_bytes_max.
    [[nodiscard]] bool submit(ReceivedReport report, std::function<void(Status)> done);
    // A message was accepted: indexed by its Message-ID for reports without a token. Dropped
    // (and counted in the log) when the queue is full.
    void sent(store::SentMessage message);
    // A recipient's message was delivered to its server: may end its run of soft bounces.
    void delivered(std::string_view resource, std::string_view recipient, spool::QueueId id);
    // Handles what is queued, then ends the thread. Call it once no worker submits any more.
    void stop();

  private:
    struct Job {
        ReceivedReport report;
        std::function<void(Status)> done;
    };
    struct Batch;
    Processor(store::TenantStore& store, const policy::TenantSnapshots& snapshots,
              stats::WorkerCounter& counter, ProcessorOptions options);
    void run();
    void handle(Batch& batch);
    class Worker;

    std::unique_ptr<Worker> worker_;  // the thread's state (soft-bounce runs, folder, store)
    std::size_t queue_max_;
    std::size_t queue_bytes_max_;
    std::size_t sent_queue_max_;
    bool track_deliveries_;
    std::mutex mutex_;  // the queues only, never held during work
    std::condition_variable wake_;
    std::deque<Job> reports_;
    std::size_t bytes_held_ = 0;  // of the reports queued and of the batch being handled
    std::vector<store::SentMessage> sent_;
    std::vector<std::pair<std::string, spool::QueueId>> delivered_;
    std::uint64_t sent_dropped_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace relay::feedback
