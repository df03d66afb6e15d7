#pragma once
// Counters the actors update and the metrics endpoint reads. Atomics, so
// neither side waits on the other.

#include <array>
#include <atomic>
#include <cstdint>

namespace wcoord {

struct engine_counters {
  std::atomic<int64_t> active_document_actors{0};
  std::atomic<uint64_t> activations{0};
  std::atomic<uint64_t> passivations{0};
};

/// Decisions by outcome (applied, stale, conflict, invalid) and version type
/// (internal, external, external_gte), in the enums' order.
struct decision_counters {
  std::array<std::array<std::atomic<uint64_t>, 3>, 4> by_outcome_and_type{};

  void count(size_t outcome_index, size_t version_type_index) {
    by_outcome_and_type[outcome_index][version_type_index].fetch_add(
      1, std::memory_order_relaxed);
  }
  uint64_t total(size_t outcome_index) const {
    uint64_t n = 0;
    for (auto& c : by_outcome_and_type[outcome_index])
      n += c.load(std::memory_order_relaxed);
    return n;
  }
};

} // namespace wcoord
