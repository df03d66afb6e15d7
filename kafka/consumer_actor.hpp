#pragma once
// The Kafka side of `wcoord run`: a detached actor that polls a consumer
// group in bounded slices, turns records into work for the pipeline, pauses
// partitions with too much unfinished work, commits the lowest unfinished
// offset per partition, and drains revoked partitions before giving them up.

#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "actors/engine_counters.hpp"
#include "actors/messages.hpp"
#include "actors/pipeline.hpp"
#include "engine/input_format.hpp"
#include "kafka/offset_tracker.hpp"

namespace wcoord::kafka {

struct consumer_options {
  std::map<std::string, std::string> props; // librdkafka, incl. group.id
  std::vector<std::string> topics;          // names, or one "^regex"
  std::string default_index;                // empty: the topic name
  /// The format of each topic's records, and how Debezium events map.
  input_formats formats;
  debezium_options debezium;
  size_t max_inflight = 10000;
  size_t max_record_bytes = 1 << 20;
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds drain_timeout{30000};
  /// Rebuild assigned partitions from this changelog first (empty: never).
  std::string changelog_topic;
  /// Client properties for the restore reader (no group).
  std::map<std::string, std::string> client_props;
  /// librdkafka statistics interval (lag metrics); 0 disables them.
  std::chrono::milliseconds stats_interval{5000};
  /// Set for processing.guarantee=exactly_once: offsets then commit inside
  /// the publisher's transactions, never from the consumer.
  std::shared_ptr<class transaction_context> transactions;
  /// Observes each commit's round trip in seconds (metrics).
  std::function<void(double)> on_commit_latency;
};

/// What health checks and metrics read, updated by the consumer.
struct consumer_status {
  std::atomic<int64_t> last_poll_ms{0};     // steady clock, for /healthz
  std::atomic<int> assigned_partitions{0};
  std::atomic<bool> ready{false};
  std::atomic<bool> fatal{false};
  std::atomic<uint64_t> rebalances{0};
  std::atomic<uint64_t> records{0};
  /// Kafka tombstones skipped on Debezium topics (nothing to decide).
  std::atomic<uint64_t> tombstones_skipped{0};
  std::atomic<int64_t> first_record_ms{0}; // steady clock; 0 until one arrives
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> commit_failures{0};
  std::atomic<uint64_t> restored_records{0};
  /// True while assigned partitions are being restored from the changelog.
  std::atomic<bool> restoring{false};
  /// Set once the group assigned us anything (possibly nothing).
  std::atomic<bool> joined{false};
  /// Exactly once: aborted transactions the consumer rewound after.
  std::atomic<uint64_t> rewinds{0};
  /// Brokers the consumer is connected to (librdkafka statistics); -1
  /// until the first statistics arrive.
  std::atomic<int> brokers_up{-1};
  /// Set by whoever sees partitions without an owner in the group for too
  /// long: the consumer leaves and rejoins, which makes the group assign
  /// everything again.
  std::atomic<bool> rejoin_requested{false};
  std::atomic<uint64_t> forced_rejoins{0};

  /// Per assigned partition: what lag tools see (from librdkafka statistics
  /// and our commits) and restore progress.
  struct partition_view {
    int64_t high_watermark = -1;
    int64_t low_watermark = -1;
    int64_t committed = -1;
    double restore_ratio = 1.0;
  };
  std::map<topic_partition, partition_view> partitions() const {
    std::lock_guard<std::mutex> g{mtx};
    return views;
  }
  template <class F>
  void update(const topic_partition& tp, F f) {
    std::lock_guard<std::mutex> g{mtx};
    f(views[tp]);
  }
  void forget(const topic_partition& tp) {
    std::lock_guard<std::mutex> g{mtx};
    views.erase(tp);
  }

private:
  mutable std::mutex mtx;
  std::map<topic_partition, partition_view> views;
};

/// Spawns the consumer. It stops (after draining and committing) on
/// `drain_atom`, replying `true` when everything in flight was finished and
/// committed within the drain timeout.
caf::actor spawn_consumer(caf::actor_system& sys, consumer_options opts,
                          pipeline_handles engine,
                          std::shared_ptr<offset_tracker> tracker,
                          std::shared_ptr<consumer_status> status);

/// The pipeline's sink in the service: marks effects finished in the tracker
/// and counts decisions (replayed records are not counted twice).
caf::actor spawn_offset_sink(caf::actor_system& sys,
                             std::shared_ptr<offset_tracker> tracker,
                             std::shared_ptr<decision_counters> decisions,
                             std::function<void(const effect&)> on_done = {});

} // namespace wcoord::kafka
