#pragma once
// Rebuilds a partition's documents from the changelog (contract §7): when an
// instance is assigned a partition, its local store may lack what another
// instance decided meanwhile. The changelog is co-partitioned with the
// input and holds every applied mutation, published before it was stored,
// so reading it from the local checkpoint to its end yields the latest state.

#include "actors/store_actor.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace wcoord::kafka {

struct restore_result {
  uint64_t records = 0;
  /// Records past their input partition's committed offset: not trusted.
  uint64_t untrusted = 0;
  int64_t from = 0;
  int64_t to = 0;
};

/// Progress of one restore, read by metrics.
struct restore_progress {
  std::atomic<int64_t> total{0};
  std::atomic<int64_t> done{0};
};

/// The group's committed offset of an input partition (nullopt: none).
using committed_lookup = std::function<std::optional<int64_t>(const topic_partition&)>;

/// Reads `changelog`/`partition` after the store's checkpoint up to its end
/// and writes the documents through the store actor (blocking: call it from
/// the consumer's own thread). Returns an error message on failure.
///
/// Only records whose source offset lies below its partition's committed
/// offset are restored: those are known to have had *all* their outputs
/// delivered. A changelog record above it may have been delivered while an
/// earlier record's dead letter was lost in a crash; restoring it would make
/// the replay skip that earlier record as already decided, and its dead
/// letter would never exist. The replay from the committed offset decides
/// such records again, identically, and republishes them.
std::optional<std::string> restore_partition(
  const std::map<std::string, std::string>& props, const store_actor& store,
  const std::string& changelog, int32_t partition, const committed_lookup& committed,
  restore_result& result, restore_progress* progress = nullptr);

} // namespace wcoord::kafka
