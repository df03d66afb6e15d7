#pragma once
// The output stage between the document actors and the store: publishes the
// changelog and dead-letter records of each effect and forwards the effect
// to the store only once they are delivered (acks=all). Publishing first
// means a crash can at worst publish a decision twice (the replay decides
// it identically), never store a decision whose record was lost.

#include <caf/fwd.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "actors/store_actor.hpp"
#include "kafka/output_counters.hpp"

namespace wcoord::kafka {

class producer;

struct publisher_options {
  std::string changelog_topic;
  std::string deadletter_topic;
  std::string on_stale = "ignore"; // ignore | log | report
  /// The input record limit (max.record.bytes). Every output record is
  /// bounded by output_message_bytes() of it (kafka/topics.hpp): a dead
  /// letter's key, headers and original are cut to fit, whatever the input.
  size_t max_record_bytes = 1 << 20;
  /// The dead-letter topic's own limit when it is smaller (topic_limits);
  /// 0: output_message_bytes(max_record_bytes).
  size_t deadletter_max_bytes = 0;
  /// Set for processing.guarantee=exactly_once: outputs go out in Kafka
  /// transactions committed every `commit_interval` together with the
  /// input offsets; effects reach the store only after their commit.
  std::shared_ptr<class transaction_context> transactions;
  std::chrono::milliseconds commit_interval{100};
  /// Exactly once: also commit as soon as this many more effects wait for
  /// a transaction than after the last commit (0: on the interval only). A
  /// record stays unfinished until its transaction commits and a partition
  /// is not read with max.inflight.records unfinished, so with the interval
  /// alone a partition moved at most that many records per interval (4
  /// partitions, 10,000, 1 s: under 40,000 records/s, whatever the machine).
  size_t commit_after_effects = 0;
};

/// Spawns the publisher (detached: it may wait on librdkafka's queue).
/// Effects are forwarded to `store` in arrival order, which keeps every
/// document's writes in order.
caf::actor spawn_publisher(caf::actor_system& sys,
                           std::map<std::string, std::string> producer_props,
                           publisher_options opts, store_actor store,
                           std::shared_ptr<output_counters> counters);

} // namespace wcoord::kafka
