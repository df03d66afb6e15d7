#pragma once
// One actor per (index, id): the only place a document's mutations are
// decided, strictly one at a time in arrival order.

#include <caf/actor.hpp>

#include "actors/store_actor.hpp"

#include <cstdint>

#include "store/document_store.hpp"

namespace wcoord {

struct document_actor_config {
  document_key key;
  /// The store actor to load the initial state from.
  store_actor store;
  /// Where effects go next: the publisher (Kafka) or the store (`apply`).
  caf::actor next;
  int64_t gc_deletes_ms = 0;
  int32_t shard = 0;
  /// A sequencer downstream numbers the applied writes (`wcoord apply`) and
  /// answers each with `seq_atom`; else Kafka work takes its pair from its
  /// offset (engine/sequence_numbers.hpp) and other work counts per
  /// document.
  bool sequenced = false;
};

/// Spawned by a shard on first use. Loads its state (via the store actor, so
/// it never blocks a scheduler thread), then for each `work_ptr` decides and
/// sends one `effect` to `next`.
caf::actor spawn_document_actor(caf::local_actor* parent,
                                document_actor_config cfg);

} // namespace wcoord
