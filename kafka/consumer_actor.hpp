#pragma once
// The Kafka side of `wcoord run`: a detached actor that polls a consumer
// group in bounded slices, turns records into work for the pipeline, pauses
// partitions with too much unfinished work, commits the lowest unfinished
// offset per partition, and drains revoked partitions before giving them up.

#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/engine_counters.hpp"
#include "kafka/offset_tracker.hpp"

namespace wcoord {
class pipeline;
}

namespace wcoord::kafka {

struct consumer_options {
  std::map<std::string, std::string> props; // librdkafka, incl. group.id
  std::vector<std::string> topics;          // names, or one "^regex"
  std::string default_index;                // empty: the topic name
  size_t max_inflight = 10000;
  size_t max_record_bytes = 1 << 20;
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds drain_timeout{30000};
  /// Rebuild assigned partitions from this changelog first (empty: never).
  std::string changelog_topic;
  /// Client properties for the restore reader (no group).
  std::map<std::string, std::string> client_props;
};

/// What health checks and metrics read, updated by the consumer.
struct consumer_status {
  std::atomic<int64_t> last_poll_ms{0};     // steady clock, for /healthz
  std::atomic<int> assigned_partitions{0};
  std::atomic<bool> ready{false};
  std::atomic<bool> fatal{false};
  std::atomic<uint64_t> rebalances{0};
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> commit_failures{0};
  std::atomic<uint64_t> restored_records{0};
  /// Changelog records still to read for the partitions being restored.
  std::atomic<int64_t> restore_remaining{0};
  std::atomic<int64_t> restore_total{0};
};

/// Spawns the consumer. It stops (after draining and committing) on
/// `drain_atom`, replying `true` when everything in flight was finished and
/// committed within the drain timeout.
caf::actor spawn_consumer(caf::actor_system& sys, consumer_options opts,
                          const pipeline& engine,
                          std::shared_ptr<offset_tracker> tracker,
                          std::shared_ptr<consumer_status> status);

/// The pipeline's sink in the service: marks effects finished in the tracker
/// and counts decisions (replayed records are not counted twice).
caf::actor spawn_offset_sink(caf::actor_system& sys,
                             std::shared_ptr<offset_tracker> tracker,
                             std::shared_ptr<decision_counters> decisions);

} // namespace wcoord::kafka
