#pragma once
// What processing.guarantee=exactly_once shares between the consumer and the
// publisher (contract §3): outputs and input offsets commit in one Kafka
// transaction (send_offsets_to_transaction with the consumer's group
// metadata, so a zombie with an old group generation is fenced).
//
// A transaction that must be aborted (a generation change, an output that
// could not be delivered) takes its decisions with it. The instance then
// rewinds, as Kafka Streams does with a migrated task: the consumer bumps
// the processing epoch, forgets every document actor and seeks its
// partitions back to the committed offsets; everything stamped with an
// older epoch is dropped wherever it is met. The store only ever holds
// committed effects, so deciding again from the committed offsets yields
// the same decisions.
//
//   publisher: abort ──▶ request_rewind()            (drops effects until…)
//   consumer:  rewind_requested() ──▶ lock commits ──▶ epoch+1, reset
//              shards, trackers, seek to committed ──▶ rewound()

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>

#include "kafka/handles.hpp"
#include "kafka/offset_tracker.hpp"

namespace wcoord::kafka {

class transaction_context {
public:
  /// Records whose effects reached the publisher: its committable offsets
  /// bound what a transaction may commit.
  const std::shared_ptr<offset_tracker> published = std::make_shared<offset_tracker>();

  /// Captures the consumer's current group metadata. Called on the
  /// consumer's thread after every rebalance and periodically, because a
  /// generation can change without changing this member's assignment.
  /// librdkafka answers NULL once the consumer is closed: the last good
  /// metadata is kept then (a commit with it fails cleanly if stale).
  void update_group_metadata(rd_kafka_t* consumer) {
    auto* raw = rd_kafka_consumer_group_metadata(consumer);
    if (!raw)
      return;
    std::shared_ptr<rd_kafka_consumer_group_metadata_t> md{
      raw, rd_kafka_consumer_group_metadata_destroy};
    std::lock_guard<std::mutex> g{mtx_};
    metadata_ = std::move(md);
  }

  std::shared_ptr<rd_kafka_consumer_group_metadata_t> group_metadata() const {
    std::lock_guard<std::mutex> g{mtx_};
    return metadata_;
  }

  /// Held by the publisher for a whole transaction, and by the consumer
  /// while it gives partitions up or rewinds: a partition is never handed
  /// over while a transaction with its offsets is in flight.
  std::timed_mutex& commit_lock() { return commit_mtx_; }

  /// The processing epoch stamped on every work item (see above).
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  /// Consumer only, holding the commit lock.
  uint64_t next_epoch() { return epoch_.fetch_add(1, std::memory_order_acq_rel) + 1; }

  /// Publisher: the open transaction was aborted; the consumer must rewind.
  void request_rewind() { rewind_.store(true, std::memory_order_release); }
  bool rewind_requested() const { return rewind_.load(std::memory_order_acquire); }
  /// Consumer: the rewind is done (the epoch moved on).
  void rewound() { rewind_.store(false, std::memory_order_release); }

  /// Set at shutdown: retry loops waiting on the broker give up.
  void stop() { stopping_.store(true, std::memory_order_release); }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  /// Set by the publisher once init_transactions() returned: by then the
  /// previous incarnation's transaction (same transactional.id) is fenced
  /// and completed. The consumer waits for it before joining the group, or
  /// its changelog restore could miss a transaction still being completed.
  void initialized() { ready_.set_value(); }
  bool wait_initialized(std::chrono::milliseconds timeout) {
    return ready_future_.wait_for(timeout) == std::future_status::ready;
  }

private:
  std::promise<void> ready_;
  std::shared_future<void> ready_future_ = ready_.get_future().share();
  mutable std::mutex mtx_;
  std::shared_ptr<rd_kafka_consumer_group_metadata_t> metadata_;
  std::timed_mutex commit_mtx_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<bool> rewind_{false};
  std::atomic<bool> stopping_{false};
};

} // namespace wcoord::kafka
