#pragma once
// Which input offsets are done. Records of different documents finish out of
// order; the committable offset of a partition is the lowest one not yet
// durable (contract §3), so a crash replays exactly the unfinished suffix.
// Thread-safe: the consumer dispatches and commits, the pipeline's sink
// finishes, and a revoking rebalance waits for a drain.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "store/document_store.hpp"

namespace wcoord::kafka {

struct partition_progress {
  /// The offset to commit: the lowest unfinished, else one past the last
  /// dispatched (or the assigned start).
  int64_t committable = -1;
  size_t in_flight = 0;
  /// Timestamp (ms) of the oldest unfinished record, if any.
  std::optional<int64_t> oldest_timestamp;
};

class offset_tracker {
public:
  /// Starts tracking a partition whose next record is `next_offset` (-1 if
  /// unknown until the first record arrives).
  void assign(const topic_partition& tp, int64_t next_offset);
  void revoke(const topic_partition& tp);

  /// A record entered the pipeline. Offsets of one partition only grow.
  void dispatched(const topic_partition& tp, int64_t offset, int64_t timestamp);
  /// Its effects are durable.
  void finished(const topic_partition& tp, int64_t offset);

  std::optional<partition_progress> progress(const topic_partition& tp) const;
  std::map<topic_partition, partition_progress> all() const;

  /// Waits until none of `tps` has unfinished records; false on timeout.
  bool wait_drained(const std::vector<topic_partition>& tps,
                    std::chrono::steady_clock::time_point deadline);

private:
  struct record {
    int64_t offset;
    int64_t timestamp;
    bool done;
  };
  struct partition {
    std::deque<record> pending; // ascending offsets
    int64_t next = -1;          // one past the last dispatched
    size_t unfinished = 0;
  };

  partition_progress progress_of(const partition& p) const;

  mutable std::mutex mtx_;
  std::condition_variable drained_;
  std::map<topic_partition, partition> partitions_;
};

} // namespace wcoord::kafka
