// flusher.cc -- the statistics flusher thread: drain the workers, add to the store, prune.
//
// Thread: its own. Blocks on the store's disk writes, which is why it is not a worker.
#include "relay/stats/flusher.h"

#include <chrono>

#include "relay/base/clock.h"
#include "relay/base/log.h"

namespace relay::stats {

Flusher::Flusher(Recorder& recorder, store::StatsStore& store, FlusherOptions options)
    : recorder_(recorder), store_(store), options_(options) {}

Flusher::~Flusher() {
    stop();
}

void Flusher::start() {
    thread_ = std::thread([this] { run(); });
}

void Flusher::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return;
        }
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    if (Status flushed = flush_now(); !flushed) {
        log::error("statistics: the last {} counts are lost: {}", pending_.size(),
                   flushed.error().message);
    }
}

Status Flusher::flush_now() {
    std::vector<store::StatsDelta> deltas = recorder_.drain();
    pending_.insert(pending_.end(), std::make_move_iterator(deltas.begin()),
                    std::make_move_iterator(deltas.end()));
    std::uint64_t dropped = recorder_.dropped();
    if (dropped != dropped_logged_) {
        log::warning("statistics: {} counts dropped: more keys than a worker table holds",
                     dropped - dropped_logged_);
        dropped_logged_ = dropped;
    }
    if (!pending_.empty()) {
        if (Status added = store_.add_stats(pending_); !added) {
            if (pending_.size() > options_.pending_deltas_max) {
                log::error("statistics: {} counts dropped after the store refused them",
                           pending_.size());
                pending_.clear();
            }
            return added;
        }
        pending_.clear();
    }
    std::uint64_t now_s = unix_ms_now() / 1000;
    if (now_s >= last_prune_s_ + options_.prune_interval_s) {
        last_prune_s_ = now_s;
        auto pruned = store_.prune_stats(now_s);
        if (!pruned) {
            return pruned.error();
        }
    }
    return {};
}

void Flusher::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms),
                       [this] { return stopping_; });
        if (stopping_) {
            break;
        }
        lock.unlock();
        if (Status flushed = flush_now(); !flushed) {
            log::error("statistics: not written, retried in {} ms: {}", options_.interval_ms,
                       flushed.error().message);
        }
        lock.lock();
    }
}

}  // namespace relay::stats
