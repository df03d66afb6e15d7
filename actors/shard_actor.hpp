#pragma once
// A shard owns the document actors of its slice of the key space: it spawns
// them on first use, forwards work in arrival order, and stops them when
// idle (passivation) or when the live count exceeds its share of
// `passivation.active.entity.limit`. Several shards keep routing off any
// single thread.

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>

#include "actors/engine_counters.hpp"
#include "actors/store_actor.hpp"

namespace wcoord {

struct shard_config {
  int32_t index = 0;
  int64_t gc_deletes_ms = 24 * 3600 * 1000LL;
  caf::timespan idle_timeout = std::chrono::seconds(120);
  size_t entity_limit = 100000;
  std::shared_ptr<engine_counters> counters;
  /// Document actors leave numbering to a sequencer (document_actor_config).
  bool sequenced = false;
};

/// A shard's interface: `work_batch` (route every item to its document
/// actor), `effect_batch` (effects now durable: their actors may stop),
/// drain of revoked partitions (forget their documents), reset to a new
/// processing epoch (forget every document, drop older work), and its own
/// timer.
using shard_actor = caf::typed_actor<
  caf::reacts_to<work_batch>,
  caf::reacts_to<effect_batch>,
  caf::reacts_to<drain_atom, std::vector<topic_partition>>,
  caf::reacts_to<reset_atom, uint64_t>,
  caf::reacts_to<tick_atom>>;

shard_actor spawn_shard_actor(caf::actor_system& sys, shard_config cfg,
                              store_actor store, caf::actor next);

} // namespace wcoord
