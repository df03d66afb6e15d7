#pragma once
// What the output stage did, for metrics and the demo summary.

#include <atomic>
#include <cstdint>

namespace wcoord::kafka {

struct output_counters {
  std::atomic<uint64_t> changelog_produced{0};
  std::atomic<uint64_t> dlq_produced{0};
  std::atomic<uint64_t> dlq_failures{0};
  std::atomic<uint64_t> replays_skipped{0};
  /// Exactly once: transactions committed, and aborted (then rewound).
  std::atomic<uint64_t> transactions_committed{0};
  std::atomic<uint64_t> transactions_aborted{0};
};

} // namespace wcoord::kafka
