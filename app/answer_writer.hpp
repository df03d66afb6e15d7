#pragma once
// The sink of `wcoord apply`: receives durable effects in any order, writes
// one bulk-style answer per input line to stdout in input order, counts
// outcomes, and hands credits back to the reader.

#include <caf/fwd.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "app/credit_gate.hpp"

namespace wcoord {

struct answer_counts {
  std::array<std::atomic<uint64_t>, 4> by_outcome{}; // indexed by outcome
  std::atomic<uint64_t> written{0};
};

/// Spawns the writer (detached: it blocks on stdout). `window` must equal the
/// gate's window: tickets in flight never span more than that.
caf::actor spawn_answer_writer(caf::actor_system& sys, std::FILE* out,
                               size_t window, std::shared_ptr<credit_gate> gate,
                               std::shared_ptr<answer_counts> counts);

} // namespace wcoord
