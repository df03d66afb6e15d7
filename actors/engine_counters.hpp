#pragma once
// Counters the actors update and the metrics endpoint reads. Atomics, so
// neither side waits on the other.

#include <atomic>
#include <cstdint>

namespace wcoord {

struct engine_counters {
  std::atomic<int64_t> active_document_actors{0};
  std::atomic<uint64_t> activations{0};
  std::atomic<uint64_t> passivations{0};
};

} // namespace wcoord
