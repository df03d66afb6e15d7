#pragma once
// The consumer group's health as the brokers see it, probed from every
// instance on its own thread so an alert can fire on a stall whatever its
// cause (a member that holds partitions but does not consume, partitions
// added to a topic that no member was given, a group nobody is in):
//
//  * unowned partitions: partitions of the subscribed topics that no member
//    of the group has in its assignment (the coordinator's DescribeGroups
//    answer), counted when the group is Stable (all of them when it is
//    Empty or Dead; kept as they were while it rebalances, when the brokers
//    publish no assignments);
//  * commit age: per partition, how long its committed offset has not
//    moved while records a consumer of the group could read wait after it
//    (0 when there are none); the oldest is exported.
//
// The pure parts (topic selection, ownership, decoding assignments, the age
// tracker) are separate from the thread that asks the brokers, for the unit
// tests.
//
// No coordinator-targeted Admin API (DescribeConsumerGroups,
// ListConsumerGroupOffsets, ...) is used: in librdkafka up to at least
// 2.0.2 a failed request of that kind (a dropped connection, a timeout)
// frees an object that is used again afterwards, which aborts the process
// (librdkafka issue #4605, rd_kafka_admin_coord_request). The group is
// described with the legacy rd_kafka_list_groups() and the committed offsets
// are read with rd_kafka_committed() on a consumer that never joins.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/document_store.hpp"

namespace wcoord::kafka {

using health_clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- pure parts

/// States of a consumer group, numbered as librdkafka's
/// rd_kafka_consumer_group_state_t.
enum class group_state : int {
  unknown = 0,
  preparing_rebalance = 1,
  completing_rebalance = 2,
  stable = 3,
  dead = 4,
  empty = 5,
};
constexpr int group_state_count = 6;

/// The name Kafka gives the state ("Stable", "PreparingRebalance", ...).
const char* group_state_name(group_state s);

/// The state a broker names `name` in a DescribeGroups answer (any case;
/// "AwaitingSync" is the name older brokers gave CompletingRebalance);
/// unknown for any other name.
group_state parse_group_state(const std::string& name);

struct group_member {
  std::string member_id;
  std::string client_id;
  std::string host;
  std::vector<topic_partition> assignment;
};

struct group_description {
  group_state state = group_state::unknown;
  std::vector<group_member> members;
};

/// The partitions in a member's assignment as the group's coordinator keeps
/// it for a consumer group (protocol type "consumer"): Kafka's
/// ConsumerProtocol Assignment, big-endian: int16 version; int32 topic
/// count, and per topic an int16-length name and an int32 count of int32
/// partitions; then int32-length user data (-1: none). No bytes at all is a
/// member that was given nothing (or not yet). Bytes after the user data
/// (fields of a later version) are ignored. Malformed bytes (truncated,
/// negative or impossible counts, an empty topic name, a negative
/// partition) give nullopt and, when `error` is given, the reason.
std::optional<std::vector<topic_partition>>
decode_member_assignment(const void* data, size_t size, std::string* error = nullptr);

/// What a group is that no broker lists (rd_kafka_list_groups finds no
/// description of it). Brokers list every group that has members or
/// committed offsets, and describe any other as Dead; but a broker that just
/// started answers ListGroups before it has loaded its groups, and
/// rd_kafka_list_groups keeps only the last broker's error (the
/// coordinator's failure can hide behind another broker's answer). So the
/// group counts as Dead only when nobody has listed it for `confirm` and 2
/// probes at least while no committed offset of it was seen (a group that
/// has one is listed: such an answer was incomplete); until then its state
/// is unknown.
class unlisted_group {
public:
  explicit unlisted_group(std::chrono::milliseconds confirm = std::chrono::seconds(10))
    : confirm_(confirm) {}

  /// One probe that found no description of the group.
  group_state observe(bool has_committed_offsets, health_clock::time_point now);

  /// A probe found the group's description.
  void listed();

private:
  std::chrono::milliseconds confirm_;
  std::optional<health_clock::time_point> since_;
  int probes_ = 0;
};

/// The topics the group consumes among the `existing` ones: the configured
/// names that exist, or those a regex subscription matches the way
/// librdkafka does (anchored at the start: "^" is added when missing).
/// Internal topics ("__...") and `excluded` (wcoord's own outputs) never
/// count. An invalid regex selects nothing.
std::vector<std::string> subscribed_topics(const std::vector<std::string>& configured,
                                           const std::string& regex,
                                           const std::vector<std::string>& existing,
                                           const std::set<std::string>& excluded = {});

/// Partitions that no member of the group will process, or nullopt when the
/// group's state does not tell (rebalancing: the brokers publish no
/// assignments then; unknown). Stable: those in no member's assignment;
/// Empty or Dead: all of them.
std::optional<std::vector<topic_partition>>
unowned_partitions(const std::vector<topic_partition>& partitions,
                   const group_description& group);

/// Records after the committed offset (none committed: after the low
/// watermark) up to `end`, the end offset a consumer of the group's
/// isolation level reads to. Never negative.
int64_t records_after_commit(int64_t committed, int64_t low, int64_t end);

/// Where a consumer of the group resumes: the committed offset, or the low
/// watermark when there is none or retention removed it.
int64_t resume_offset(int64_t committed, int64_t low);

/// "topic[0,2,5] other[1]" for log lines; at most `limit` partitions, then
/// "... (N more)".
std::string describe_partitions(const std::vector<topic_partition>& tps, size_t limit = 50);

/// Per partition: since when its committed offset has not moved while
/// records wait after it. The age starts at the first observation (nothing
/// is known before this instance started), restarts whenever the committed
/// offset changes or the partition is seen caught up, and is 0 while
/// nothing waits.
class commit_age_tracker {
public:
  /// One probe's view of a partition: its committed offset (-1: none) and
  /// whether records a consumer could read wait after it.
  void observe(const topic_partition& tp, int64_t committed, bool pending,
               health_clock::time_point now);

  /// Forgets partitions that are no longer subscribed.
  void retain(const std::vector<topic_partition>& current);

  /// Seconds the partition has waited (0: nothing waits, or unknown).
  double age_seconds(const topic_partition& tp, health_clock::time_point now) const;

  /// The largest age over all partitions.
  double oldest_seconds(health_clock::time_point now) const;

  /// Partitions waiting at least `min_age`, oldest first.
  std::vector<std::pair<topic_partition, double>>
  waiting(health_clock::time_point now, std::chrono::milliseconds min_age) const;

  /// The committed offset last observed, if the partition is known.
  std::optional<int64_t> committed(const topic_partition& tp) const;

private:
  struct entry {
    int64_t committed = -1;
    bool pending = false;
    health_clock::time_point since;
  };
  std::map<topic_partition, entry> parts_;
};

/// Whether records a consumer can read follow a partition's committed
/// offset, remembered between probes. The raw count (end - committed) is
/// not enough: transaction markers and aborted records occupy offsets that
/// no read_committed consumer ever sees, so a partition whose last records
/// were written in a transaction keeps a count of 1 or more forever. The
/// prober reads such partitions once to know; the answer holds while the
/// resume offset stays, and a "nothing to read" answer while the end offset
/// stays too.
class readable_cache {
public:
  std::optional<bool> known(const topic_partition& tp, int64_t from, int64_t end) const;
  void remember(const topic_partition& tp, int64_t from, int64_t end, bool readable);
  void retain(const std::vector<topic_partition>& current);

private:
  struct entry {
    int64_t from;
    int64_t end;
    bool readable;
  };
  std::map<topic_partition, entry> parts_;
};

// ---------------------------------------------------------------- the probe

/// What the metrics read (any thread).
struct group_health_status {
  /// Partitions of the subscribed topics without an owner in the group.
  std::atomic<int64_t> unowned_partitions{0};
  /// Seconds, as of the last successful probe.
  std::atomic<double> oldest_commit_age_seconds{0};
  /// The group's state at the last successful probe; -1 before the first.
  std::atomic<int> state{-1};
  std::atomic<uint64_t> probes{0};
  std::atomic<uint64_t> probe_errors{0};
  /// How long (ms) some partitions have been seen without an owner in a
  /// Stable group; 0 while every partition has one.
  std::atomic<int64_t> unowned_for_ms{0};
};

struct group_health_options {
  /// librdkafka client properties (bootstrap.servers, security, ...).
  std::map<std::string, std::string> props;
  std::string group_id;
  std::vector<std::string> topics; // explicit names, or:
  std::string topics_regex;        // a regex subscription
  /// Topics a regex never selects (the changelog and dead-letter topics).
  std::set<std::string> excluded;
  std::chrono::milliseconds interval{10000};
  /// Bound on each request to the brokers.
  std::chrono::milliseconds request_timeout{5000};
};

/// Probes the group every `interval` on its own thread (the calls block on
/// the network) until destroyed. The first probe runs at once.
class group_health {
public:
  group_health(group_health_options opts, std::shared_ptr<group_health_status> status);
  ~group_health(); // stops and joins the thread (bounded by request_timeout)

  group_health(const group_health&) = delete;
  group_health& operator=(const group_health&) = delete;

  /// Asks the thread to stop without waiting for it.
  void request_stop();

private:
  void run();

  group_health_options opts_;
  std::shared_ptr<group_health_status> status_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace wcoord::kafka
