#pragma once
// Rebuilds a partition's documents from the changelog (contract §7): when an
// instance is assigned a partition, its local store may lack what another
// instance decided meanwhile. The changelog is co-partitioned with the
// input and holds every applied mutation, published before it was stored,
// so reading it from the local checkpoint to its end yields the latest state.

#include "actors/store_actor.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace wcoord::kafka {

struct restore_result {
  uint64_t records = 0;
  int64_t from = 0;
  int64_t to = 0;
};

/// Progress of one restore, read by metrics.
struct restore_progress {
  std::atomic<int64_t> total{0};
  std::atomic<int64_t> done{0};
};

/// Reads `changelog`/`partition` after the store's checkpoint up to its end
/// and writes the documents through the store actor (blocking: call it from
/// the consumer's own thread). Returns an error message on failure.
std::optional<std::string> restore_partition(
  const std::map<std::string, std::string>& props, const store_actor& store,
  const std::string& changelog, int32_t partition, restore_result& result,
  restore_progress* progress = nullptr);

} // namespace wcoord::kafka
