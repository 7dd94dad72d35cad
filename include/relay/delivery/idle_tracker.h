// idle_tracker.h -- which keys have gone unused the longest, so that state kept per key (a
// destination's queue, plan and failures) can be dropped once it has been idle for a while.
//
// Keys are kept in the order of their last touch: touching moves a key to the back, the idle
// ones are taken from the front. Every operation is O(1) per key (amortised for the hash map).
// Touch times must not go backwards (a steady clock); a time earlier than the last one is taken
// as the last one, so the order stays true.
//
// Thread: one worker.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <vector>

namespace relay::delivery {

template <typename Key, typename Hash = std::hash<Key>>
class IdleTracker {
  public:
    void touch(const Key& key, std::uint64_t now_ms) {
        if (!order_.empty()) {
            now_ms = std::max(now_ms, order_.back().touched_ms);
        }
        auto found = where_.find(key);
        if (found != where_.end()) {
            found->second->touched_ms = now_ms;
            order_.splice(order_.end(), order_, found->second);
            return;
        }
        order_.push_back(Entry{key, now_ms});
        where_.emplace(key, std::prev(order_.end()));
    }

    void forget(const Key& key) {
        auto found = where_.find(key);
        if (found != where_.end()) {
            order_.erase(found->second);
            where_.erase(found);
        }
    }

    // Forgets and returns the keys last touched at or before `before_ms`, oldest first, at most
    // `count_max` of them.
    std::vector<Key> take_idle(std::uint64_t before_ms, std::size_t count_max) {
        std::vector<Key> idle;
        while (!order_.empty() && idle.size() < count_max &&
               order_.front().touched_ms <= before_ms) {
            idle.push_back(std::move(order_.front().key));
            where_.erase(idle.back());
            order_.pop_front();
        }
        return idle;
    }

    std::size_t size() const { return where_.size(); }

  private:
    struct Entry {
        Key key;
        std::uint64_t touched_ms = 0;
    };
    std::list<Entry> order_;
    std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> where_;
};

}  // namespace relay::delivery
